import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing for secrets at rest. A keyring holds the current key (used to seal) and
 * older keys (only to open values sealed before a rotation). The key id is stored with every
 * sealed value, so rotation is: add the new key as current, keep the old one, re-encrypt.
 */

export interface Keyring {
  currentId: string;
  keys: ReadonlyMap<string, Buffer>;
}

export interface Sealed {
  keyId: string;
  /** base64 of iv (12 bytes) | ciphertext | auth tag (16 bytes). */
  sealed: string;
}

export class SecretDecryptionError extends Error {
  override name = 'SecretDecryptionError';
}

function key32(base64: string, label: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) throw new Error(`${label} must be 32 bytes, base64-encoded (got ${key.length} bytes)`);
  return key;
}

/**
 * Builds a keyring from the current key and `id:base64,id:base64` older keys
 * (JUNCTION_SECRETS_KEY, JUNCTION_SECRETS_KEY_ID, JUNCTION_SECRETS_OLD_KEYS).
 */
export function keyringFrom(params: { key: string; keyId: string; oldKeys?: string }): Keyring {
  const keys = new Map<string, Buffer>();
  for (const entry of (params.oldKeys ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = entry.indexOf(':');
    if (at < 1) throw new Error(`JUNCTION_SECRETS_OLD_KEYS entries must look like id:base64key (got '${entry.slice(0, 12)}…')`);
    keys.set(entry.slice(0, at), key32(entry.slice(at + 1), `old key '${entry.slice(0, at)}'`));
  }
  keys.set(params.keyId, key32(params.key, 'JUNCTION_SECRETS_KEY'));
  return { currentId: params.keyId, keys };
}

/** Seals a value under the keyring's current key; the AAD binds it to where it is stored. */
export function seal(keyring: Keyring, plaintext: string, aad = ''): Sealed {
  const key = keyring.keys.get(keyring.currentId);
  if (!key) throw new Error(`the current secrets key '${keyring.currentId}' is not in the keyring`);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: keyring.currentId, sealed: Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64') };
}

/** Opens a sealed value; a wrong key, a tampered value or another AAD throws SecretDecryptionError. */
export function open(keyring: Keyring, value: Sealed, aad = ''): string {
  const key = keyring.keys.get(value.keyId);
  if (!key) {
    throw new SecretDecryptionError(
      `secret was sealed with key '${value.keyId}', which is not configured: add it to JUNCTION_SECRETS_OLD_KEYS`,
    );
  }
  const raw = Buffer.from(value.sealed, 'base64');
  if (raw.length < 28) throw new SecretDecryptionError('sealed secret is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  try {
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretDecryptionError(`secret sealed with key '${value.keyId}' failed authentication (wrong key or tampered value)`);
  }
}
