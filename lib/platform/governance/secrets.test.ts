import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertChannels, auditLog, integrations, integrationSecrets } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { ConfigError } from '../../env';
import { openChannelSecret, sealChannelSecret } from '../alerts/channel-secret';
import { isCredentialsError, isPermanentError } from '../errors';
import { keyringFrom } from './crypto';
import { createSecretsProvider, loadKeyring, reencryptSecrets, secretStatus, writeSecrets } from './secrets';

const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
const ring1 = keyringFrom({ key: key1, keyId: 'k1' });
const ring2 = keyringFrom({ key: key2, keyId: 'k2', oldKeys: `k1:${key1}` });
const ring2Only = keyringFrom({ key: key2, keyId: 'k2' });
const VALUE = 'sEcReT-vAlUe-0b7e3f';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values([
    { name: 'crm', breakerKey: 'crm' },
    { name: 'erp', breakerKey: 'erp' },
  ]);
});
afterAll(() => t.drop());

describe('loadKeyring', () => {
  it('builds the keyring from the environment and refuses a missing key with what to do', () => {
    const ring = loadKeyring({ JUNCTION_SECRETS_KEY: key2, JUNCTION_SECRETS_KEY_ID: 'k2', JUNCTION_SECRETS_OLD_KEYS: `k1:${key1}` });
    expect(ring.currentId).toBe('k2');
    expect([...ring.keys.keys()].sort()).toEqual(['k1', 'k2']);
    expect(() => loadKeyring({ JUNCTION_SECRETS_KEY: undefined, JUNCTION_SECRETS_KEY_ID: 'k1', JUNCTION_SECRETS_OLD_KEYS: '' })).toThrow(
      ConfigError,
    );
    expect(() => loadKeyring({ JUNCTION_SECRETS_KEY: undefined, JUNCTION_SECRETS_KEY_ID: 'k1', JUNCTION_SECRETS_OLD_KEYS: '' })).toThrow(
      /JUNCTION_SECRETS_KEY is required .*`openssl rand -base64 32`/,
    );
  });
});

describe('secrets at rest', () => {
  it('stores values sealed, reports only status, and gives the worker the values', async () => {
    const writes = await writeSecrets(t.db, {
      integration: 'crm',
      values: { clientId: 'crm-client', clientSecret: VALUE },
      actor: 'ada@example.com',
      keyring: ring1,
    });
    expect(writes).toEqual([
      { name: 'clientId', replaced: false },
      { name: 'clientSecret', replaced: false },
    ]);
    const stored = await t.db.select().from(integrationSecrets).where(eq(integrationSecrets.integration, 'crm'));
    expect(JSON.stringify(stored)).not.toContain(VALUE);
    expect(stored.every((r) => r.keyId === 'k1')).toBe(true);

    const status = await secretStatus(t.db, { integration: 'crm', declared: ['clientSecret', 'clientId', 'apiKey'] });
    expect(status.map(({ name, set, updatedBy, declared }) => ({ name, set, updatedBy, declared }))).toEqual([
      { name: 'clientSecret', set: true, updatedBy: 'ada@example.com', declared: true },
      { name: 'clientId', set: true, updatedBy: 'ada@example.com', declared: true },
      { name: 'apiKey', set: false, updatedBy: null, declared: true },
    ]);
    expect(status[0].updatedAt).toBeInstanceOf(Date);
    expect(JSON.stringify(status)).not.toContain(VALUE);
    expect(await secretStatus(t.db, { integration: 'crm', declared: ['clientId'] })).toMatchObject([
      { name: 'clientId', declared: true },
      { name: 'clientSecret', set: true, declared: false },
    ]);

    const provider = createSecretsProvider(t.db, ring1);
    expect(await provider.read('crm', ['clientId', 'clientSecret', 'apiKey'])).toEqual({ clientId: 'crm-client', clientSecret: VALUE });
    expect(await provider.read('erp', ['clientSecret'])).toEqual({});
  });

  it('rewrites a value equal to the stored one like any other, so the answer does not tell a right guess', async () => {
    const [before] = await t.db.select().from(integrationSecrets).where(eq(integrationSecrets.name, 'clientSecret'));
    expect(
      await writeSecrets(t.db, { integration: 'crm', values: { clientSecret: VALUE }, actor: 'bob@example.com', keyring: ring1 }),
    ).toEqual([{ name: 'clientSecret', replaced: true }]);
    const [same] = await t.db.select().from(integrationSecrets).where(eq(integrationSecrets.name, 'clientSecret'));
    expect(same.updatedBy).toBe('bob@example.com');
    expect(same.sealed, 'sealed again with a fresh nonce').not.toEqual(before.sealed);
    expect(await createSecretsProvider(t.db, ring1).read('crm', ['clientSecret'])).toEqual({ clientSecret: VALUE });
    expect(
      await writeSecrets(t.db, { integration: 'crm', values: { clientId: 'crm-client-2' }, actor: 'bob@example.com', keyring: ring1 }),
    ).toEqual([{ name: 'clientId', replaced: true }]);
  });

  it('refuses a sealed value moved to another row, without showing the value or asking to re-enter it', async () => {
    const [row] = await t.db.select().from(integrationSecrets).where(eq(integrationSecrets.name, 'clientSecret'));
    await t.db.insert(integrationSecrets).values({ ...row, integration: 'erp' });
    const error = await createSecretsProvider(t.db, ring1)
      .read('erp', ['clientSecret'])
      .catch((e: unknown) => e);
    expect(isCredentialsError(error)).toBe(false);
    expect(isPermanentError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /^Secret 'clientSecret' of 'erp' cannot be decrypted .*does not match the key the secret was sealed with; start the worker with the key that sealed it/,
    );
    expect((error as Error).message).not.toMatch(/set it again|re-?enter/i);
    expect((error as Error).message).not.toContain(VALUE);
    await t.db.delete(integrationSecrets).where(eq(integrationSecrets.integration, 'erp'));
  });
});

describe('key rotation', () => {
  it('refuses to start when a value’s key is not configured, and changes nothing', async () => {
    const stranger = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k0' });
    await writeSecrets(t.db, { integration: 'erp', values: { token: 'erp-token' }, actor: 'a', keyring: stranger });
    const before = await t.db.select().from(integrationSecrets);
    await expect(reencryptSecrets(t.db, ring2)).rejects.toThrow(
      "Cannot re-encrypt: values are sealed with key(s) 'k0' that are not configured; add them to JUNCTION_SECRETS_OLD_KEYS and run again (nothing was changed)",
    );
    expect(await t.db.select().from(integrationSecrets)).toEqual(before);
    await t.db.delete(integrationSecrets).where(eq(integrationSecrets.integration, 'erp'));
  });

  it('re-encrypts integration and channel secrets under the new key; the values still open without the old key', async () => {
    const [channel] = await t.db
      .insert(alertChannels)
      .values({ name: 'ops-hook', type: 'webhook', config: { url: 'https://hooks.example.com/x' } })
      .returning();
    await t.db
      .update(alertChannels)
      .set({ sealedSecret: sealChannelSecret(ring1, channel.id, 'hmac-key-123') })
      .where(eq(alertChannels.id, channel.id));
    const before = await t.db.select().from(integrationSecrets);

    const result = await reencryptSecrets(t.db, ring2, { actor: 'ops@example.com' });
    expect(result).toEqual({ reencrypted: 3, integrationSecrets: 2, channelSecrets: 1 });

    const after = await t.db.select().from(integrationSecrets);
    expect(after.every((r) => r.keyId === 'k2')).toBe(true);
    // Who set a value and when is not changed by rotation.
    expect(after.map((r) => [r.name, r.updatedAt.getTime(), r.updatedBy]).sort()).toEqual(
      before.map((r) => [r.name, r.updatedAt.getTime(), r.updatedBy]).sort(),
    );
    expect(await createSecretsProvider(t.db, ring2Only).read('crm', ['clientId', 'clientSecret'])).toEqual({
      clientId: 'crm-client-2',
      clientSecret: VALUE,
    });
    const [stored] = await t.db.select().from(alertChannels).where(eq(alertChannels.id, channel.id));
    expect(openChannelSecret(ring2Only, channel.id, stored.sealedSecret!)).toBe('hmac-key-123');

    const [action] = await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'secrets_reencrypt'));
    expect(action).toMatchObject({
      kind: 'action',
      changedBy: 'ops@example.com',
      newValue: { keyId: 'k2', integrationSecrets: 2, channelSecrets: 1 },
    });
    expect(JSON.stringify(await t.db.select().from(auditLog))).not.toContain(VALUE);

    expect(await reencryptSecrets(t.db, ring2)).toEqual({ reencrypted: 0, integrationSecrets: 0, channelSecrets: 0 });
  });
});
