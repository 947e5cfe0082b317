import { ErrorCodes, isGantryError } from '@gantry/contracts';
import { anAdminCommand } from '../test/support';
import { isAdminActor, parseTenantCommand, requireAdmin } from './tenant-commands';

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (isGantryError(err)) return err.code;
    throw err;
  }
};

describe('admin actors', () => {
  it.each(['admin', 'admin:ops', 'admin:alice@example.com'])('%j is an admin', (actor) =>
    expect(isAdminActor(actor)).toBe(true),
  );
  it.each([undefined, '', 'admin:', 'administrator', 'key-acme-1', 'Admin', 'x:admin'])(
    '%j is not',
    (actor) => expect(isAdminActor(actor)).toBe(false),
  );

  it('refuses a non-admin envelope with FORBIDDEN', () => {
    const command = anAdminCommand('RotateApiKey', { id: 'acme' }, { actor: 'key-acme-1' });
    expect(codeOf(() => requireAdmin(command))).toBe(ErrorCodes.FORBIDDEN);
  });
});

describe('parseTenantCommand', () => {
  it('parses a create', () => {
    const data = { id: 'acme', name: 'Acme', quotas: { cores: 64, concurrentJobs: 100 } };
    expect(parseTenantCommand('CreateTenant', anAdminCommand('CreateTenant', data))).toEqual({
      type: 'CreateTenant',
      data,
    });
  });

  it.each([
    ['a tenant id that is not one', 'CreateTenant', { id: 'Acme Corp', name: 'A', quotas: {} }],
    ['an unknown field', 'CreateTenant', { id: 'acme', name: 'A', quotas: {}, plan: 'gold' }],
    ['a negative quota', 'SetTenantQuotas', { id: 'acme', quotas: { cores: -1 } }],
    ['a malformed key id', 'RevokeApiKey', { id: 'acme', keyId: 'nope' }],
  ])('refuses %s with VALIDATION_FAILED', (_case, type, data) => {
    expect(
      codeOf(() =>
        parseTenantCommand(
          type as 'CreateTenant',
          anAdminCommand(type, data as Record<string, unknown>),
        ),
      ),
    ).toBe(ErrorCodes.VALIDATION_FAILED);
  });

  it('refuses a command sent to the wrong verb', () => {
    expect(
      codeOf(() => parseTenantCommand('CreateTenant', anAdminCommand('RotateApiKey', { id: 'a' }))),
    ).toBe(ErrorCodes.VALIDATION_FAILED);
  });
});
