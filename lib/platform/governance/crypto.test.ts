import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyringFrom, open, seal } from './crypto';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');

describe('secret sealing', () => {
  it('round-trips and never stores the plaintext', () => {
    const ring = keyringFrom({ key: k1, keyId: 'k1' });
    const sealed = seal(ring, 's3cr3t-value', 'accounting-export/clientSecret');
    expect(sealed.keyId).toBe('k1');
    expect(Buffer.from(sealed.sealed, 'base64').toString('latin1')).not.toContain('s3cr3t-value');
    expect(open(ring, sealed, 'accounting-export/clientSecret')).toBe('s3cr3t-value');
  });

  it('opens values sealed under an old key after rotation', () => {
    const sealed = seal(keyringFrom({ key: k1, keyId: 'k1' }), 'old');
    const rotated = keyringFrom({ key: k2, keyId: 'k2', oldKeys: `k1:${k1}` });
    expect(open(rotated, sealed)).toBe('old');
    expect(seal(rotated, 'new').keyId).toBe('k2');
  });

  it('refuses a tampered value, another AAD and an unknown key', () => {
    const ring = keyringFrom({ key: k1, keyId: 'k1' });
    const sealed = seal(ring, 'value', 'a');
    const bytes = Buffer.from(sealed.sealed, 'base64');
    bytes[14] ^= 1;
    expect(() => open(ring, { ...sealed, sealed: bytes.toString('base64') }, 'a')).toThrow(/failed authentication/);
    expect(() => open(ring, sealed, 'b')).toThrow(/failed authentication/);
    expect(() => open(keyringFrom({ key: k2, keyId: 'k2' }), sealed, 'a')).toThrow(/key 'k1', which is not configured/);
  });
});
