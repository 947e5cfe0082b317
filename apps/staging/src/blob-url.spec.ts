import { blobUrl, parseExpires, signBlobGrant, verifyBlobGrant, type BlobGrant } from './blob-url';

const SECRET = 'test-secret';
const grant: BlobGrant = {
  method: 'GET',
  fileId: `file-${'0'.repeat(32)}`,
  tenant: 'acme',
  expires: 1_800_000_000,
};
const sig = signBlobGrant(grant, SECRET);

describe('blob URL signatures', () => {
  it('accepts its own signature until and including the expiry second', () => {
    expect(verifyBlobGrant(grant, sig, SECRET, grant.expires - 600)).toBe('ok');
    expect(verifyBlobGrant(grant, sig, SECRET, grant.expires)).toBe('ok');
  });

  it('refuses an expired URL', () => {
    expect(verifyBlobGrant(grant, sig, SECRET, grant.expires + 1)).toBe('expired');
  });

  it.each<[string, Partial<BlobGrant>]>([
    ['another method', { method: 'PUT' }],
    ['another file', { fileId: `file-${'1'.repeat(32)}` }],
    ['another tenant', { tenant: 'globex' }],
    ['a later expiry', { expires: grant.expires + 3600 }],
  ])('refuses the signature for %s', (_name, change) => {
    expect(verifyBlobGrant({ ...grant, ...change }, sig, SECRET, grant.expires - 1)).toBe(
      'bad_signature',
    );
  });

  it.each([
    ['another secret', signBlobGrant(grant, 'other-secret')],
    ['a flipped character', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1)],
    ['a truncated signature', sig.slice(0, 20)],
    ['no signature', undefined],
    ['an array', [sig]],
  ])('refuses %s', (_name, presented) => {
    expect(verifyBlobGrant(grant, presented, SECRET, grant.expires - 1)).toBe('bad_signature');
  });

  it('builds a URL whose query carries the expiry and the signature', () => {
    const url = new URL(blobUrl('http://127.0.0.1:8081/', grant, SECRET));
    expect(url.pathname).toBe(`/blobs/${grant.fileId}`);
    expect(parseExpires(url.searchParams.get('expires'))).toBe(grant.expires);
    expect(verifyBlobGrant(grant, url.searchParams.get('sig'), SECRET, grant.expires)).toBe('ok');
  });

  it.each([['-5'], ['1e9'], [''], ['12.5'], [undefined]])('reads %p as no expiry', (raw) => {
    expect(parseExpires(raw)).toBeNull();
  });
});
