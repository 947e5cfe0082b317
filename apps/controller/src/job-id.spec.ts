import { JOB_ID_NAMESPACE, submittedJobId, uuidV5 } from './job-id';

const neverCalled = (): string => {
  throw new Error('a keyed submission must not draw a fresh id');
};

describe('uuidV5', () => {
  it('matches the RFC 4122 reference value', () => {
    // uuid.uuid5(uuid.NAMESPACE_DNS, 'www.example.com') in Python's standard library.
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('refuses a namespace that is not a UUID', () => {
    expect(() => uuidV5('not-a-uuid', 'x')).toThrow(/namespace/);
  });
});

describe('submittedJobId', () => {
  it('gives the same id for the same tenant and key, every time', () => {
    const first = submittedJobId('acme', 'order-42', neverCalled);
    expect(submittedJobId('acme', 'order-42', neverCalled)).toBe(first);
    expect(first).toBe(uuidV5(JOB_ID_NAMESPACE, JSON.stringify(['acme', 'order-42'])));
  });

  it.each([
    ['another tenant, same key', 'globex', 'order-42'],
    ['same tenant, another key', 'acme', 'order-43'],
    // Joined with a plain '-', these two would hash the same name.
    ['a tenant that swallows part of the key', 'acme-order', '42'],
  ])('gives a different id for %s', (_case, tenant, key) => {
    expect(submittedJobId(tenant, key, neverCalled)).not.toBe(
      submittedJobId('acme', 'order-42', neverCalled),
    );
  });

  it('draws a fresh id when there is no key', () => {
    const ids = ['fresh-1', 'fresh-2'];
    const next = (): string => ids.shift()!;
    expect(submittedJobId('acme', null, next)).toBe('fresh-1');
    expect(submittedJobId('acme', null, next)).toBe('fresh-2');
  });

  it('is a valid subject token, so it can name a stream', () => {
    expect(submittedJobId('acme', 'k/with spaces.and*dots', neverCalled)).toMatch(
      /^[A-Za-z0-9_-]{1,128}$/,
    );
  });
});
