import { apiKeyMaterialFrom, formatApiKey, hashApiKeySecret } from '@gantry/domain';
import { authenticateApiKey, type KeyLookup } from './authenticate-api-key';

/** The parsing and the refusals, against a stubbed lookup; the int test runs it on Postgres. */
const key = apiKeyMaterialFrom(new Uint8Array(44).fill(7));
const raw = formatApiKey(key);

const lookup = (row: Record<string, unknown> | undefined): KeyLookup & { calls: unknown[][] } => {
  const calls: unknown[][] = [];
  return {
    calls,
    query: (async (_text: string, values: unknown[]) => {
      calls.push(values);
      return { rows: row ? [row] : [] };
    }) as unknown as KeyLookup['query'],
  };
};

const live = { tenant: 'acme', hash: hashApiKeySecret(key), revoked_at: null };

describe('authenticateApiKey', () => {
  it.each([`Bearer ${raw}`, `bearer  ${raw}`, raw])('accepts %j', async (bearer) => {
    const db = lookup(live);
    expect(await authenticateApiKey(db, bearer)).toEqual({ tenant: 'acme', keyId: key.keyId });
    expect(db.calls).toEqual([[key.keyId]]);
  });

  it.each([
    null,
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Basic abc',
    `Bearer ${raw}x!`,
    'x'.repeat(600),
  ])('refuses the malformed %j without a query', async (bearer) => {
    const db = lookup(live);
    expect(await authenticateApiKey(db, bearer)).toBeNull();
    expect(db.calls).toEqual([]);
  });

  it('refuses an unknown key id, a revoked key and a wrong secret', async () => {
    expect(await authenticateApiKey(lookup(undefined), raw)).toBeNull();
    expect(await authenticateApiKey(lookup({ ...live, revoked_at: new Date() }), raw)).toBeNull();
    const other = formatApiKey({ keyId: key.keyId, secret: 'A'.repeat(43) });
    expect(await authenticateApiKey(lookup(live), other)).toBeNull();
  });
});
