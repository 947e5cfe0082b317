import { ErrorCodes, GantryError } from '@gantry/contracts';
import { decodeReply, encodeReply, errorReply, successReply } from './command';

const roundTrip = (reply: Parameters<typeof encodeReply>[0]) => () =>
  decodeReply(encodeReply(reply), 'gantry.cmd.x.y');

describe('command replies', () => {
  it('carries a result', () => {
    expect(roundTrip(successReply({ jobId: 'j1' }))()).toEqual({ jobId: 'j1' });
  });

  it('carries "no result" as null rather than losing the field', () => {
    expect(roundTrip(successReply(undefined))()).toBeNull();
  });

  it('turns an error reply back into the GantryError that was thrown', () => {
    const thrown = new GantryError(ErrorCodes.QUOTA_EXCEEDED, 'no GPUs left', {
      retryable: true,
      details: { pool: 'gpu' },
    });
    const rethrown = (() => {
      try {
        roundTrip(errorReply(thrown))();
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(rethrown).toBeInstanceOf(GantryError);
    expect((rethrown as GantryError).toJSON()).toEqual(thrown.toJSON());
  });

  it('keeps an error code this build does not know instead of inventing one', () => {
    const bytes = new TextEncoder().encode(
      JSON.stringify({
        ok: false,
        error: { code: 'WARP_DRIVE_OFFLINE', message: 'm', retryable: false, details: {} },
      }),
    );
    expect(() => decodeReply(bytes, 's')).toThrow(
      expect.objectContaining({
        code: ErrorCodes.INTERNAL,
        details: { remoteCode: 'WARP_DRIVE_OFFLINE' },
      }),
    );
  });

  it.each([
    { name: 'not JSON', text: 'hello' },
    { name: 'not a reply', text: '{"result": 1}' },
  ])('refuses a reply that is $name', ({ text }) => {
    expect(() => decodeReply(new TextEncoder().encode(text), 's')).toThrow(GantryError);
  });
});
