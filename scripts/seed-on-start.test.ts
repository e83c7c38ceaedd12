import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keyringFrom } from '../lib/platform/governance/crypto';
import { freshDatabase, type TestDatabase } from '../test/db';
import { seedDemoOnStart } from './seed-on-start';

// As in `npm start` with SANDBOX_PORT only: the process that seeds has no SANDBOX_URL when its
// modules load (before these imports); scripts/start.ts sets the one it gives its children after.
const loadedWith = vi.hoisted(() => {
  const value = process.env.SANDBOX_URL;
  delete process.env.SANDBOX_URL;
  return value;
});

const SANDBOX_URL = 'http://localhost:4400';
const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'test' });

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(async () => {
  if (loadedWith === undefined) delete process.env.SANDBOX_URL;
  else process.env.SANDBOX_URL = loadedWith;
  await t.drop();
});

describe('the demo seed of npm start / npm run dev', () => {
  it('refuses to seed with a sandbox URL other than the process has (the integrations would point elsewhere)', async () => {
    await expect(seedDemoOnStart(t.db, { keyring, sandboxUrl: SANDBOX_URL, appUrl: 'http://localhost:3000' })).rejects.toThrow(
      'this process has SANDBOX_URL (unset)',
    );
  });

  it('registers the shipped integrations pointing at the sandbox on SANDBOX_PORT, as the processes it starts see it', async () => {
    process.env.SANDBOX_URL = SANDBOX_URL;
    expect(await seedDemoOnStart(t.db, { keyring, sandboxUrl: SANDBOX_URL, appUrl: 'http://localhost:3000' })).toBe(true);
    const rows = await t.db.$client<{ name: string; settings: Record<string, unknown> }[]>`
      select name, settings from integrations where name in ('crm-sync', 'accounting-export') order by name`;
    expect(Object.fromEntries(rows.map((r) => [r.name, r.settings]))).toMatchObject({
      'accounting-export': { baseUrl: `${SANDBOX_URL}/accounting`, tokenUrl: `${SANDBOX_URL}/oauth/token` },
      'crm-sync': { baseUrl: `${SANDBOX_URL}/crm` },
    });
    // Nothing the seed stored names another sandbox (the alert channel, the demo errors).
    const [other] = await t.db.$client<{ n: number }[]>`
      select (select count(*) from integrations where settings::text ~ 'localhost:4000')
           + (select count(*) from alert_channels where config::text ~ 'localhost:4000')
           + (select count(*) from runs where error_message ~ 'localhost:4000') as n`;
    expect(Number(other.n)).toBe(0);
  });
});
