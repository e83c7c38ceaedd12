import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertChannels, integrations, secretKeyChecks } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { ConfigError } from '../../env';
import { sealChannelSecret } from '../alerts/channel-secret';
import { keyringFrom } from './crypto';
import { writeSecrets } from './secrets';
import { secretsKeyCheckValue, verifySecretsKeys } from './secrets-key-check';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const goodKey = randomBytes(32).toString('base64');
const wrongKey = randomBytes(32).toString('base64');
const good = keyringFrom({ key: goodKey, keyId: 'k1' });
const wrong = keyringFrom({ key: wrongKey, keyId: 'k1' });

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values({ name: 'erp', description: 'ERP', breakerKey: 'erp' });
  await writeSecrets(t.db, {
    integration: 'erp',
    values: { clientId: 'erp-client', clientSecret: 'erp-secret' },
    actor: 'ada',
    keyring: good,
  });
});
afterAll(async () => {
  await t.drop();
});

/** A checksum of every row that start-up could write: secrets, channels, checks, integrations, audit, heartbeats. */
async function checksum(): Promise<string> {
  const [row] = await t.db.execute<{ sum: string }>(sql`
    select md5(concat_ws('|',
      (select string_agg(s::text, ',' order by s.integration, s.name) from integration_secrets s),
      (select string_agg(c::text, ',' order by c.id) from alert_channels c),
      (select string_agg(k::text, ',' order by k.key_id) from secret_key_checks k),
      (select string_agg(i::text, ',' order by i.name) from integrations i),
      (select count(*)::text from audit_log),
      (select count(*)::text from worker_heartbeats))) as sum`);
  return row.sum;
}

function runEntry(args: string[], key: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: t.url,
        JUNCTION_SECRETS_KEY: key,
        JUNCTION_SECRETS_KEY_ID: 'k1',
        WORKER_CONCURRENCY: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the secrets key check', () => {
  it('proves a key without a check value against a sealed value: a wrong one is refused and nothing is written', async () => {
    const before = await checksum();
    await expect(verifySecretsKeys(t.db, wrong)).rejects.toThrow(ConfigError);
    await expect(verifySecretsKeys(t.db, wrong)).rejects.toThrow(
      /^Invalid configuration: JUNCTION_SECRETS_KEY does not match the key the stored secrets were sealed with under key id 'k1' \(a secret sealed with it does not open\)/,
    );
    expect(await checksum()).toBe(before);
    expect(await t.db.select().from(secretKeyChecks)).toEqual([]);
  });

  it('writes the check value on the first start with the right key, then refuses a wrong key by it alone', async () => {
    expect(await verifySecretsKeys(t.db, good)).toEqual({ written: true });
    const [check] = await t.db.select().from(secretKeyChecks);
    expect(check).toMatchObject({ keyId: 'k1', checkValue: secretsKeyCheckValue(Buffer.from(goodKey, 'base64')) });
    expect(await verifySecretsKeys(t.db, good)).toEqual({ written: false });
    // Without any sealed value left, the check value alone refuses the wrong key.
    await t.db.execute(sql`delete from integration_secrets`);
    await expect(verifySecretsKeys(t.db, wrong)).rejects.toThrow(/JUNCTION_SECRETS_KEY does not match .*\(its key check value differs\)/);
    await writeSecrets(t.db, {
      integration: 'erp',
      values: { clientId: 'erp-client', clientSecret: 'erp-secret' },
      actor: 'ada',
      keyring: good,
    });
  });

  it('names JUNCTION_SECRETS_OLD_KEYS when an old key is the wrong one', async () => {
    const rotated = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k2', oldKeys: `k1:${wrongKey}` });
    const before = await checksum();
    await expect(verifySecretsKeys(t.db, rotated)).rejects.toThrow(
      /^Invalid configuration: JUNCTION_SECRETS_OLD_KEYS does not match .* key id 'k1'/,
    );
    expect(await checksum()).toBe(before);
  });

  it('proves a key by an alert channel secret when no integration secret uses it', async () => {
    const ring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k9' });
    const [channel] = await t.db
      .insert(alertChannels)
      .values({ name: 'hook', type: 'webhook', config: { url: 'https://hooks.example.com/x' } })
      .returning();
    await t.db
      .update(alertChannels)
      .set({ sealedSecret: sealChannelSecret(ring, channel.id, 'hmac') })
      .where(sql`id = ${channel.id}`);
    const other = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k9' });
    await expect(verifySecretsKeys(t.db, other)).rejects.toThrow(/a secret sealed with it does not open/);
    await t.db.delete(alertChannels);
  });

  it('the worker and the web start refuse a wrong key: exit code 1, one line naming the variable, no row changed', async () => {
    const before = await checksum();
    for (const entry of [['worker/index.ts'], ['scripts/check-secrets-key.ts']]) {
      const result = await runEntry(entry, wrongKey);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^Invalid configuration: JUNCTION_SECRETS_KEY does not match the key the stored secrets were sealed with under key id 'k1'/,
      );
      expect(result.stderr).not.toContain(wrongKey);
    }
    expect(await checksum()).toBe(before);
    // The right key passes the same check.
    expect((await runEntry(['scripts/check-secrets-key.ts'], goodKey)).code).toBe(0);
  }, 120_000);
});
