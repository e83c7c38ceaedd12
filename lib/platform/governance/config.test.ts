import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alertChannels, auditLog, integrations, integrationSecrets } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { httpUrl } from '../contract';
import { exactTime } from '../when';
import { changesSince, fieldHistory, verifyAuditChain } from './audit';
import { getIntegrationConfig, staleMessage, updateIntegrationConfig, type ConfigDefinition, type IntegrationConfigView } from './config';
import { configAsOf, describeVersion, HISTORY_FIELDS, originalConfigMoment, planRevert, revertToVersion } from './config-history';
import { keyringFrom } from './crypto';
import { createSecretsProvider } from './secrets';

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
const SECRET = 'zq-Very-Distinctive-Secret-7731';
const SECRET_2 = 'zq-Another-Distinctive-Secret-8842';

const definition: ConfigDefinition = {
  settings: z
    .object({
      baseUrl: httpUrl('https://api.example.com'),
      batchSize: z.number().int().min(1).max(500, 'must be at most 500 (the API limit)'),
      note: z.string().nullable().optional(),
    })
    .strict(),
  secrets: ['clientId', 'clientSecret'],
};

let t: TestDatabase;
/** Every value any function of the service returned, to search for secret values at the end. */
const returned: unknown[] = [];

async function seedIntegration(name: string) {
  await t.db.insert(integrations).values({
    name,
    description: `${name} integration`,
    breakerKey: name,
    schedule: '0 2 * * *',
    // As the registry inserts it (registry.ts); NULL only on a row from before migration 0030.
    attemptTimeout: '1h',
    settings: { baseUrl: 'https://api.example.com', batchSize: 100 },
  });
}

async function view(name: string): Promise<IntegrationConfigView> {
  const v = await getIntegrationConfig(t.db, { integration: name, declaredSecrets: definition.secrets });
  returned.push(v);
  return v!;
}

async function update(name: string, expectedVersion: number, patch: unknown, actor = 'ada@example.com') {
  const result = await updateIntegrationConfig(t.db, { integration: name, expectedVersion, patch, actor, definition, keyring });
  returned.push(result);
  return result;
}

async function auditCount(): Promise<number> {
  return (await t.db.select({ id: auditLog.id }).from(auditLog)).length;
}

function historyProjection(v: IntegrationConfigView): Record<string, unknown> {
  return Object.fromEntries(
    HISTORY_FIELDS.map((f) => [f, f === 'settings' ? Object.fromEntries(Object.entries(v.settings).sort()) : v[f]]),
  );
}

beforeAll(async () => {
  t = await freshDatabase();
  await seedIntegration('crm');
});
afterAll(() => t.drop());

describe('updateIntegrationConfig', () => {
  it('shows the editor everything, secrets only as status', async () => {
    const v = await view('crm');
    expect(v).toMatchObject({
      name: 'crm',
      version: 1,
      schedule: '0 2 * * *',
      scheduleDescription: 'At 02:00 AM',
      timezone: 'UTC',
      retryDelays: ['30s', '2m', '5m'],
      breakerFailures: 3,
      breakerCooldown: '1m',
      retryBudget: null,
      resumePolicy: 'skip',
      settings: { baseUrl: 'https://api.example.com', batchSize: 100 },
      mapping: null,
      alertRouting: { channelIds: 'all' },
      secrets: [
        { name: 'clientId', set: false, updatedAt: null, updatedBy: null, declared: true },
        { name: 'clientSecret', set: false, updatedAt: null, updatedBy: null, declared: true },
      ],
    });
    expect(await getIntegrationConfig(t.db, { integration: 'nope' })).toBeNull();
  });

  it('writes one audit row per changed field, with one correlation id, and bumps the version', async () => {
    const before = await auditCount();
    const result = await update('crm', 1, {
      schedule: '0 3 * * *',
      retryDelays: ['10s', '1m'],
      timezone: 'UTC',
      settings: { baseUrl: 'https://api.example.com', batchSize: 250, note: null },
      secrets: { clientSecret: SECRET },
    });
    expect(result).toEqual({
      ok: true,
      version: 2,
      changed: ['schedule', 'retryDelays', 'settings.batchSize', 'settings.note', 'secret.clientSecret'],
    });
    const rows = await t.db.select().from(auditLog).orderBy(asc(auditLog.id));
    const added = rows.slice(before);
    expect(added.map((r) => [r.kind, r.integration, r.fieldName, r.oldValue, r.newValue, r.changedBy])).toEqual([
      ['config', 'crm', 'schedule', '0 2 * * *', '0 3 * * *', 'ada@example.com'],
      ['config', 'crm', 'retryDelays', ['30s', '2m', '5m'], ['10s', '1m'], 'ada@example.com'],
      ['config', 'crm', 'settings.batchSize', 100, 250, 'ada@example.com'],
      ['config', 'crm', 'settings.note', null, null, 'ada@example.com'],
      ['config', 'crm', 'secret.clientSecret', null, { set: true }, 'ada@example.com'],
    ]);
    expect(new Set(added.map((r) => r.correlationId)).size).toBe(1);
    // A new key was absent before (SQL NULL); a null value is JSON null.
    const [note] = await t.db.$client<{ old_absent: boolean; new_absent: boolean }[]>`
      select old_value is null as old_absent, new_value is null as new_absent from audit_log where field_name = 'settings.note'`;
    expect(note).toEqual({ old_absent: true, new_absent: false });

    const v = await view('crm');
    expect(v).toMatchObject({ version: 2, updatedBy: 'ada@example.com', schedule: '0 3 * * *', retryDelays: ['10s', '1m'] });
    expect(v.settings).toEqual({ baseUrl: 'https://api.example.com', batchSize: 250, note: null });
    expect(v.secrets.find((s) => s.name === 'clientSecret')).toMatchObject({ set: true, updatedBy: 'ada@example.com' });
    expect(await createSecretsProvider(t.db, keyring).read('crm', ['clientSecret'])).toEqual({ clientSecret: SECRET });
  });

  it('records a replaced secret as replaced, never its value', async () => {
    const result = await update('crm', 2, { secrets: { clientSecret: SECRET_2, clientId: 'client-1' } }, 'bob@example.com');
    expect(result).toEqual({ ok: true, version: 3, changed: ['secret.clientId', 'secret.clientSecret'] });
    const history = await fieldHistory(t.db, { integration: 'crm', fieldName: 'secret.clientSecret' });
    returned.push(history);
    expect(history.map((r) => [r.oldValue, r.newValue])).toEqual([
      [{ set: true }, { replaced: true }],
      [null, { set: true }],
    ]);
  });

  it('checks an edit without saving it: the fields it would change, or the refusals the save would give', async () => {
    const { version, settings } = await view('crm');
    const before = await auditCount();
    const check = (expectedVersion: number, patch: unknown) =>
      updateIntegrationConfig(t.db, {
        integration: 'crm',
        expectedVersion,
        patch,
        actor: 'ada@example.com',
        definition,
        keyring,
        checkOnly: true,
      });
    expect(await check(version, { breakerFailures: 9, settings: { ...settings, batchSize: 42 } })).toEqual({
      ok: true,
      version,
      changed: ['breakerFailures', 'settings.batchSize'],
    });
    expect(await check(version, { breakerFailures: 0, settings: { ...settings, batchSize: 900 } })).toMatchObject({
      ok: false,
      code: 'invalid_input',
      fieldErrors: { breakerFailures: 'must be at least 1', 'settings.batchSize': 'must be at most 500 (the API limit)' },
    });
    expect(await check(version - 1, { breakerFailures: 9 })).toMatchObject({ ok: false, code: 'stale' });
    // Nothing written: same version, no audit row, the old values.
    const after = await view('crm');
    expect(after.version).toBe(version);
    expect(after.breakerFailures).not.toBe(9);
    expect(await auditCount()).toBe(before);
  });

  it('writes nothing for an edit that changes nothing', async () => {
    const before = await auditCount();
    const { updatedAt } = await view('crm');
    const result = await update('crm', 3, {
      schedule: '  0 3  * * * ',
      retryDelays: ['10s', '1m'],
      settings: { note: null, batchSize: 250, baseUrl: 'https://api.example.com' },
      alertRouting: { channelIds: 'all' },
    });
    expect(result).toEqual({ ok: true, version: 3, changed: [] });
    expect(await auditCount()).toBe(before);
    const after = await view('crm');
    expect(after.version).toBe(3);
    expect(after.updatedAt).toEqual(updatedAt);
  });

  it('answers a secret replaced with its current value like any replace, so a guess cannot be checked', async () => {
    await seedIntegration('vault');
    await update('vault', 1, { secrets: { clientSecret: SECRET } });
    const history = async () =>
      (await fieldHistory(t.db, { integration: 'vault', fieldName: 'secret.clientSecret' })).map((r) => [
        r.changedBy,
        r.oldValue,
        r.newValue,
      ]);

    const right = await update('vault', 2, { secrets: { clientSecret: SECRET } }, 'mallory@example.com');
    const afterRight = await history();
    const wrong = await update('vault', 3, { secrets: { clientSecret: SECRET_2 } }, 'mallory@example.com');
    const afterWrong = await history();

    expect(right).toEqual({ ok: true, version: 3, changed: ['secret.clientSecret'] });
    expect(wrong).toEqual({ ok: true, version: 4, changed: ['secret.clientSecret'] });
    expect(afterRight.slice(0, 1)).toEqual([['mallory@example.com', { set: true }, { replaced: true }]]);
    expect(afterWrong.slice(0, 2)).toEqual([
      ['mallory@example.com', { set: true }, { replaced: true }],
      ['mallory@example.com', { set: true }, { replaced: true }],
    ]);
    expect((await view('vault')).secrets.find((s) => s.name === 'clientSecret')).toMatchObject({ updatedBy: 'mallory@example.com' });
  });

  it('refuses a stale edit, saying who changed it and when, and writes nothing', async () => {
    const loadedByAda = await view('crm');
    const bob = await update('crm', loadedByAda.version, { breakerFailures: 5 }, 'bob@example.com');
    expect(bob).toMatchObject({ ok: true, version: 4 });
    const { updatedAt } = await view('crm');
    const before = await auditCount();
    const ada = await update('crm', loadedByAda.version, { breakerFailures: 7 }, 'ada@example.com');
    expect(ada).toEqual({
      ok: false,
      code: 'stale',
      message: expect.stringMatching(
        new RegExp(`^Changed by bob@example\\.com (just now|\\d+ seconds? ago) \\(${exactTime(updatedAt)}\\); reload to see their change$`),
      ),
    });
    expect(await auditCount()).toBe(before);
    expect((await view('crm')).breakerFailures).toBe(5);
  });

  it('says when the other change was made in words, with the exact time beside it', () => {
    const row = { updatedBy: 'bob@example.com', updatedAt: new Date('2026-11-30T12:00:00Z') };
    expect(staleMessage(row, new Date('2026-11-30T12:03:10Z'))).toBe(
      'Changed by bob@example.com 3 minutes ago (2026-11-30 12:00:00 UTC); reload to see their change',
    );
    expect(staleMessage(row, new Date('2026-12-02T12:00:00Z'))).toMatch(
      /^Changed by bob@example\.com 2 days ago \(2026-11-30 12:00:00 UTC\)/,
    );
  });

  it('lets exactly one of two concurrent edits of the same version through', async () => {
    const { version } = await view('crm');
    const results = await Promise.all([
      update('crm', version, { breakerCooldown: '2m' }, 'carol@example.com'),
      update('crm', version, { breakerCooldown: '3m' }, 'dave@example.com'),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const stale = results.find((r) => !r.ok);
    expect(stale).toMatchObject({ ok: false, code: 'stale' });
    expect((stale as { message: string }).message).toMatch(
      /^Changed by (carol|dave)@example\.com (just now|\d+ seconds? ago) \(.* UTC\); /,
    );
  });

  it('refuses invalid values field by field, naming what to do, and writes nothing', async () => {
    const [channel] = await t.db
      .insert(alertChannels)
      .values({ name: 'ops', type: 'slack', config: { url: 'https://hooks.example.com/1' } })
      .returning();
    const { version } = await view('crm');
    const before = await auditCount();
    const bad = await update('crm', version, {
      schedule: '0 25 * * *',
      timezone: 'Mars/Olympus',
      retryDelays: ['30s', '0s'],
      breakerFailures: 0,
      breakerCooldown: '2h',
      retryBudget: 1.5,
      attemptTimeout: '4h',
      resumePolicy: 'sometimes',
      colour: 'blue',
    });
    expect(bad).toMatchObject({ ok: false, code: 'invalid_input' });
    if (bad.ok) return;
    expect(bad.fieldErrors).toEqual({
      schedule: "Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25)",
      timezone: "Time zone 'Mars/Olympus' is unknown: use an IANA name such as 'UTC' or 'Europe/Paris'",
      'retryDelays.1': "'0s' is out of range: use 1s to 24h",
      breakerFailures: 'must be at least 1',
      breakerCooldown: "'2h' is out of range: use 1s to 1h",
      retryBudget: 'must be at most 100% of attempts (1 as a fraction)',
      attemptTimeout: "'4h' is out of range: use 1s to 3h, e.g. 45s, 90m or 2h",
      resumePolicy: "must be 'skip' or 'run_once'",
      colour:
        'is not a configuration field: use schedule, timezone, retryDelays, breakerFailures, breakerCooldown, retryBudget, attemptTimeout, resumePolicy, settings, secrets, mapping, alertRouting',
    });
    expect(bad.message).toBe("Not saved: schedule Cron '0 25 * * *' is invalid: hour must be 0–23 (got 25) (and 8 more)");

    const handler = await update('crm', version, {
      settings: { baseUrl: 'not a url', batchSize: 900, extra: 1 },
      secrets: { clientSecret: SECRET, apiKey: SECRET },
      mapping: { fields: [{ target: 'total', expression: 'netTotal +', type: 'number', required: true }] },
      alertRouting: { channelIds: [channel.id, '00000000-0000-4000-8000-000000000000'] },
    });
    expect(handler).toMatchObject({ ok: false, code: 'invalid_input' });
    if (handler.ok) return;
    expect(handler.fieldErrors).toEqual({
      'settings.baseUrl': 'is not a URL: use an http(s) URL, e.g. https://api.example.com',
      'settings.batchSize': 'must be at most 500 (the API limit)',
      'settings.extra': 'is not a known setting of this integration',
      'secrets.apiKey': 'is not a secret of this integration: it declares clientId, clientSecret',
      'mapping.total': 'position 10: Unexpected end of expression',
      'alertRouting.channelIds': 'channel(s) 00000000-0000-4000-8000-000000000000 do not exist: pick from the alert channels list',
    });
    expect(await auditCount()).toBe(before);
    expect((await view('crm')).version).toBe(version);
    // The valid secret in the refused edit was not stored either.
    expect(await createSecretsProvider(t.db, keyring).read('crm', ['clientSecret'])).toEqual({ clientSecret: SECRET_2 });
  });

  it('says a value of the wrong type or size in words, not in zod notation', async () => {
    const { version } = await view('crm');
    const before = await auditCount();
    const bad = await update('crm', version, {
      timezone: 5,
      retryDelays: '30s',
      alertRouting: { channelIds: 'some', extra: true },
      settings: { baseUrl: 'https://api.example.com', batchSize: 'ten' },
    });
    expect(bad).toMatchObject({ ok: false, code: 'invalid_input' });
    if (bad.ok) return;
    // Before: 'Invalid input: expected string, received number', 'Invalid input' (the union of
    // 'all' and a list) and a key inside alertRouting named as no configuration field.
    expect(bad.fieldErrors).toEqual({
      timezone: 'must be text',
      retryDelays: 'must be a list',
      'alertRouting.channelIds': "must be 'all' or a list",
      'alertRouting.extra': 'is not a field of this request: use channelIds',
      'settings.batchSize': 'must be a number',
    });
    expect(bad.message).toBe('Not saved: timezone must be text (and 4 more)');
    expect(await auditCount()).toBe(before);
  });

  it('refuses a blank secret, a key named __proto__ and a URL no run could reach, and writes nothing', async () => {
    const { version } = await view('crm');
    const before = await auditCount();
    const cases: [unknown, Record<string, RegExp>][] = [
      // Whitespace replaced a working secret: the next run failed with invalid_client.
      [{ secrets: { clientSecret: '   ' } }, { 'secrets.clientSecret': /is only whitespace: enter the new value/ }],
      [{ secrets: { clientId: '\n\t' } }, { 'secrets.clientId': /is only whitespace/ }],
      // zod's record drops __proto__: these answered ok and saved nothing.
      [JSON.parse('{"secrets":{"__proto__":"x"}}'), { 'secrets.__proto__': /is not a secret name/ }],
      [JSON.parse('{"settings":{"__proto__":{"batchSize":1}}}'), { 'settings.__proto__': /is not a setting of this integration/ }],
      // Settings are saved whole: one left out was "Invalid input: expected string, received undefined".
      [
        { settings: { batchSize: -1 } },
        {
          'settings.baseUrl':
            /^is required: settings are saved as a whole, so send every setting \(its current value is "https:\/\/api\.example\.com"\)$/,
          'settings.batchSize': /too small|at least/i,
        },
      ],
      // Any other scheme failed every run as a network error, retried and opened the breaker.
      [
        { settings: { baseUrl: 'javascript:alert(1)', batchSize: 100 } },
        { 'settings.baseUrl': /scheme 'javascript:'.*e\.g\. https:\/\/api\.example\.com/ },
      ],
      [{ settings: { baseUrl: 'ftp://api.example.com', batchSize: 100 } }, { 'settings.baseUrl': /scheme 'ftp:'/ }],
      [{ settings: { baseUrl: 'https://ada:pw@api.example.com', batchSize: 100 } }, { 'settings.baseUrl': /user name or password/ }],
    ];
    for (const [patch, errors] of cases) {
      const result = await update('crm', version, patch);
      expect(result, JSON.stringify(patch)).toMatchObject({ ok: false, code: 'invalid_input' });
      if (result.ok) continue;
      expect(Object.keys(result.fieldErrors ?? {}), JSON.stringify(patch)).toEqual(Object.keys(errors));
      for (const [field, message] of Object.entries(errors)) expect(result.fieldErrors?.[field]).toMatch(message);
    }
    expect(await auditCount()).toBe(before);
    expect((await view('crm')).version).toBe(version);
    expect(await createSecretsProvider(t.db, keyring).read('crm', ['clientSecret'])).toEqual({ clientSecret: SECRET_2 });
    // http and https with a port and a path still save.
    expect(await update('crm', version, { settings: { baseUrl: 'http://localhost:4000/crm', batchSize: 100 } })).toMatchObject({
      ok: true,
    });
  });

  it('saves a mapping and alert routing to existing channels', async () => {
    const [channel] = await t.db.select().from(alertChannels);
    const { version } = await view('crm');
    const mapping = { key: 'number', fields: [{ target: 'reference', expression: 'number', type: 'string', required: true }] };
    const result = await update('crm', version, {
      mapping,
      alertRouting: { channelIds: [channel.id] },
      retryBudget: 0.25,
      resumePolicy: 'run_once',
    });
    expect(result).toEqual({ ok: true, version: version + 1, changed: ['retryBudget', 'resumePolicy', 'alertRouting', 'mapping'] });
    expect(await view('crm')).toMatchObject({
      mapping,
      alertRouting: { channelIds: [channel.id] },
      retryBudget: 0.25,
      resumePolicy: 'run_once',
    });
  });

  it('refuses a setting the handler does not know even when its schema is not strict, and still drops a stored one it no longer knows', async () => {
    // The shipped integrations declare z.object({...}), which strips unknown keys: a misspelt
    // setting answered ok, saved nothing and left the admin believing it was set.
    const loose: ConfigDefinition = { settings: z.object({ pageSize: z.number().int().min(1).max(200) }), secrets: [] };
    await t.db.insert(integrations).values({
      name: 'loose',
      description: 'loose',
      breakerKey: 'loose',
      settings: { pageSize: 100, legacyFlag: true },
    });
    const save = (expectedVersion: number, patch: unknown) =>
      updateIntegrationConfig(t.db, { integration: 'loose', expectedVersion, patch, actor: 'ada@example.com', definition: loose, keyring });
    const before = await auditCount();
    const typo = await save(1, { settings: { pageSize: 100, legacyFlag: true, pagesize: 50 } });
    expect(typo).toEqual({
      ok: false,
      code: 'invalid_input',
      message: 'Not saved: settings.pagesize is not a known setting of this integration',
      fieldErrors: { 'settings.pagesize': 'is not a known setting of this integration' },
    });
    expect(await auditCount()).toBe(before);
    // A key the handler dropped since it was stored (what the form sends back) goes, audited.
    expect(await save(1, { settings: { pageSize: 50, legacyFlag: true } })).toEqual({
      ok: true,
      version: 2,
      changed: ['settings.legacyFlag', 'settings.pageSize'],
    });
    const [row] = await t.db.select().from(integrations).where(eq(integrations.name, 'loose'));
    expect(row.settings).toEqual({ pageSize: 50 });
  });

  it('stores a time zone by its canonical name, audits old and new, and saves nothing for an offset', async () => {
    await seedIntegration('tzcheck');
    const before = await auditCount();
    const refused = await update('tzcheck', 1, { timezone: '+02:00' });
    expect(refused).toMatchObject({ ok: false, code: 'invalid_input' });
    if (!refused.ok) expect(refused.fieldErrors?.timezone).toMatch(/is a UTC offset.*'Etc\/GMT-2' for a fixed UTC\+2/);
    expect(await auditCount()).toBe(before);
    expect(await update('tzcheck', 1, { timezone: 'europe/berlin' })).toEqual({ ok: true, version: 2, changed: ['timezone'] });
    expect(await view('tzcheck')).toMatchObject({ timezone: 'Europe/Berlin' });
    const [row] = (await t.db.select().from(auditLog).orderBy(asc(auditLog.id))).slice(before);
    expect([row.fieldName, row.oldValue, row.newValue]).toEqual(['timezone', 'UTC', 'Europe/Berlin']);
    // The same zone spelt another way is no change.
    expect(await update('tzcheck', 2, { timezone: 'Europe/berlin' })).toMatchObject({ ok: true, changed: [] });
    // ICU would name it Asia/Calcutta: the current name the admin chose is kept.
    expect(await update('tzcheck', 2, { timezone: 'Asia/Kolkata' })).toMatchObject({ ok: true, changed: ['timezone'] });
    expect(await view('tzcheck')).toMatchObject({ timezone: 'Asia/Kolkata' });
  });

  it('answers not_found for an unknown integration', async () => {
    expect(await update('nope', 1, { breakerFailures: 2 })).toEqual({
      ok: false,
      code: 'not_found',
      message: "Integration 'nope' does not exist: check the name in the integrations list",
    });
  });
});

describe("an attempt's time limit", () => {
  beforeAll(() => seedIntegration('slow-export'));
  const stored = async (name: string) =>
    (await t.db.select({ v: integrations.attemptTimeout }).from(integrations).where(eq(integrations.name, name)))[0].v;

  it('refuses a value that is not a limit from 1s to 3h, naming the range, and writes nothing', async () => {
    const { version } = await view('slow-export');
    const before = await auditCount();
    const range = 'use 1s to 3h, e.g. 45s, 90m or 2h';
    const cases: [unknown, string][] = [
      ['0s', `'0s' is out of range: ${range}`],
      ['500ms', `'500ms' is out of range: ${range}`],
      ['4h', `'4h' is out of range: ${range}`],
      ['3h1s', `'3h1s' is not a duration: ${range} (units: ms, s, m, h)`],
      ['soon', `'soon' is not a duration: ${range} (units: ms, s, m, h)`],
      ['', `is empty: enter a time limit, ${range}`],
      ['   ', `is empty: enter a time limit, ${range}`],
      [3600, `must be a duration: ${range}`],
      [null, `must be a duration: ${range}`],
    ];
    for (const [value, message] of cases) {
      const result = await update('slow-export', version, { attemptTimeout: value });
      expect(result, String(value)).toEqual({
        ok: false,
        code: 'invalid_input',
        message: `Not saved: attemptTimeout ${message}`,
        fieldErrors: { attemptTimeout: message },
      });
    }
    expect(await auditCount()).toBe(before);
    expect(await stored('slow-export')).toBe('1h');
    expect((await view('slow-export')).version).toBe(version);
  });

  it('saves a limit as one audited change (old → new, who, correlation id), shown in its field history', async () => {
    let { version } = await view('slow-export');
    for (const [value, saved] of [
      [' 2h ', '2h'],
      ['90m', '90m'],
      ['45s', '45s'],
      ['3h', '3h'],
      ['1s', '1s'],
    ]) {
      const result = await updateIntegrationConfig(t.db, {
        integration: 'slow-export',
        expectedVersion: version,
        patch: { attemptTimeout: value },
        actor: 'ada@example.com',
        correlationId: `corr-${saved}`,
        definition,
        keyring,
      });
      expect(result).toEqual({ ok: true, version: version + 1, changed: ['attemptTimeout'] });
      version += 1;
      expect(await stored('slow-export')).toBe(saved);
      expect((await view('slow-export')).attemptTimeout).toBe(saved);
    }
    const history = await fieldHistory(t.db, { integration: 'slow-export', fieldName: 'attemptTimeout', limit: 10 });
    expect(history.map((r) => [r.oldValue, r.newValue, r.changedBy, r.correlationId])).toEqual([
      ['3h', '1s', 'ada@example.com', 'corr-1s'],
      ['45s', '3h', 'ada@example.com', 'corr-3h'],
      ['90m', '45s', 'ada@example.com', 'corr-45s'],
      ['2h', '90m', 'ada@example.com', 'corr-90m'],
      ['1h', '2h', 'ada@example.com', 'corr-2h'],
    ]);
    // The same value again is no change.
    expect(await update('slow-export', version, { attemptTimeout: '1s' })).toEqual({ ok: true, version, changed: [] });
    expect((await verifyAuditChain(t.db)).ok).toBe(true);
  });

  it("shows a row from before migration 0030 (no limit yet) with the code's value, and audits its first edit from null", async () => {
    await t.db
      .insert(integrations)
      .values({ name: 'old-row', breakerKey: 'old-row', settings: { baseUrl: 'https://api.example.com', batchSize: 1 } });
    expect(await stored('old-row')).toBeNull();
    const shown = await getIntegrationConfig(t.db, { integration: 'old-row', codeAttemptTimeout: '15m' });
    expect(shown?.attemptTimeout).toBe('15m');
    expect((await view('old-row')).attemptTimeout).toBe('1h');
    const before = new Date(Date.now() - 1000);
    expect(await update('old-row', shown!.version, { attemptTimeout: '2h' })).toMatchObject({ ok: true, changed: ['attemptTimeout'] });
    const [row] = await fieldHistory(t.db, { integration: 'old-row', fieldName: 'attemptTimeout', limit: 1 });
    expect([row.oldValue, row.newValue]).toEqual([null, '2h']);
    // The version before it leaves the limit out (nothing to go back to): a revert keeps 2h.
    expect(await configAsOf(t.db, { integration: 'old-row', at: before })).not.toHaveProperty('attemptTimeout');
  });
});

describe('configuration history', () => {
  const snapshots: { at: Date; config: Record<string, unknown> }[] = [];
  let initial: Record<string, unknown>;

  beforeAll(async () => {
    await seedIntegration('erp');
    initial = historyProjection(await view('erp'));
    const edits: unknown[] = [
      { schedule: '15 4 * * *', settings: { baseUrl: 'https://erp.example.com', batchSize: 100 } },
      {
        settings: { baseUrl: 'https://erp.example.com', batchSize: 50, note: 'tuned' },
        breakerFailures: 9,
        secrets: { clientSecret: SECRET },
      },
      {
        schedule: null,
        settings: { baseUrl: 'https://erp2.example.com', batchSize: 50 },
        timezone: 'Europe/Paris',
        attemptTimeout: '90m',
      },
    ];
    for (const patch of edits) {
      await sleep(5);
      const { version } = await view('erp');
      const result = await update('erp', version, patch);
      expect(result.ok).toBe(true);
      const [last] = await changesSince(t.db, { since: new Date(0), integration: 'erp', limit: 1 });
      snapshots.push({ at: last.changedAt, config: historyProjection(await view('erp')) });
      await sleep(5);
    }
  });

  it('rebuilds exactly what was saved at each time, and the starting configuration before any change', async () => {
    for (const { at, config } of snapshots) {
      const asOf = await configAsOf(t.db, { integration: 'erp', at });
      returned.push(asOf);
      expect(asOf).toEqual(config);
    }
    expect(await configAsOf(t.db, { integration: 'erp', at: new Date(snapshots[0].at.getTime() - 3) })).toEqual(initial);
    expect(await configAsOf(t.db, { integration: 'erp', at: new Date(snapshots[1].at.getTime() - 3) })).toEqual(snapshots[0].config);
    // A settings key added later is absent before it existed.
    expect(snapshots[1].config.settings).toHaveProperty('note', 'tuned');
    expect(snapshots[2].config.settings).not.toHaveProperty('note');
  });

  it('reverts to a past version as a new audited change, leaving secrets as they are', async () => {
    const { version } = await view('erp');
    const before = await auditCount();
    const target = snapshots[0];
    // What the confirm dialog lists before anyone clicks: each field, today's value and the one it
    // goes back to, and the secrets replaced since then (by name: they stay).
    const plan = await planRevert(t.db, { integration: 'erp', at: target.at, definition });
    returned.push(plan);
    expect(plan).toEqual({
      changes: [
        { fieldName: 'schedule', oldValue: null, newValue: '15 4 * * *' },
        { fieldName: 'timezone', oldValue: 'Europe/Paris', newValue: 'UTC' },
        { fieldName: 'breakerFailures', oldValue: 9, newValue: expect.any(Number) as unknown },
        { fieldName: 'attemptTimeout', oldValue: '90m', newValue: '1h' },
        { fieldName: 'settings.baseUrl', oldValue: 'https://erp2.example.com', newValue: 'https://erp.example.com' },
        { fieldName: 'settings.batchSize', oldValue: 50, newValue: 100 },
      ],
      secretsChangedSince: ['clientSecret'],
      refusal: null,
    });
    expect(await auditCount()).toBe(before);
    const result = await revertToVersion(t.db, {
      integration: 'erp',
      at: target.at,
      expectedVersion: version,
      actor: 'eve@example.com',
      definition,
      keyring,
    });
    returned.push(result);
    expect(result).toEqual({
      ok: true,
      version: version + 1,
      changed: ['schedule', 'timezone', 'breakerFailures', 'attemptTimeout', 'settings.baseUrl', 'settings.batchSize'],
    });
    const added = (await t.db.select().from(auditLog).orderBy(asc(auditLog.id))).slice(before);
    expect(added.map((r) => [r.kind, r.fieldName, r.changedBy])).toEqual([
      ['config', 'schedule', 'eve@example.com'],
      ['config', 'timezone', 'eve@example.com'],
      ['config', 'breakerFailures', 'eve@example.com'],
      ['config', 'attemptTimeout', 'eve@example.com'],
      ['config', 'settings.baseUrl', 'eve@example.com'],
      ['config', 'settings.batchSize', 'eve@example.com'],
      ['action', 'revert', 'eve@example.com'],
    ]);
    expect(added.at(-1)?.newValue).toEqual({
      to: target.at.toISOString(),
      version: expect.stringMatching(/^the version after ada@example\.com changed /),
      fields: result.ok ? result.changed : [],
    });
    expect(historyProjection(await view('erp'))).toEqual(target.config);
    expect(await createSecretsProvider(t.db, keyring).read('erp', ['clientSecret'])).toEqual({ clientSecret: SECRET });

    // Reverting to the version it already has changes nothing.
    const again = await revertToVersion(t.db, {
      integration: 'erp',
      at: new Date(),
      expectedVersion: version + 1,
      actor: 'eve@example.com',
      definition,
      keyring,
    });
    expect(again).toEqual({ ok: true, version: version + 1, changed: [] });
    // ... and the dialog says so beforehand: nothing to change.
    expect(await planRevert(t.db, { integration: 'erp', at: new Date(), definition })).toEqual({
      changes: [],
      secretsChangedSince: [],
      refusal: null,
    });
  });

  it('lists the same fields the revert then changes, and says when that version would be refused', async () => {
    const original = await originalConfigMoment(t.db, { integration: 'erp' });
    for (const at of [original!, ...snapshots.map((s) => s.at)]) {
      const plan = await planRevert(t.db, { integration: 'erp', at, definition });
      const { version } = await view('erp');
      const applied = await revertToVersion(t.db, {
        integration: 'erp',
        at,
        expectedVersion: version,
        actor: 'eve@example.com',
        definition,
        keyring,
      });
      expect(applied.ok && applied.changed).toEqual(plan.changes.map((c) => c.fieldName));
    }
    // A version the handler's settings schema no longer accepts: the dialog says the revert is refused.
    const strict: ConfigDefinition = { ...definition, settings: z.object({ baseUrl: z.string(), batchSize: z.number().max(10) }).strict() };
    const plan = await planRevert(t.db, { integration: 'erp', at: snapshots[0].at, definition: strict });
    expect(plan.refusal).toMatch(
      /^Not reverted: the version after ada@example\.com changed .* no longer passes validation: settings\.batchSize /,
    );
    expect(plan.changes).toEqual([]);
  });

  it('refuses a stale revert', async () => {
    const { version } = await view('erp');
    const stale = await revertToVersion(t.db, {
      integration: 'erp',
      at: snapshots[1].at,
      expectedVersion: version - 1,
      actor: 'x',
      definition,
      keyring,
    });
    expect(stale).toMatchObject({
      ok: false,
      code: 'stale',
      message: expect.stringMatching(/^Changed by eve@example\.com (just now|.* ago) \(.* UTC\); reload to see their change$/),
    });
  });

  it('reverts to the original configuration, the state before the first recorded change', async () => {
    const original = await originalConfigMoment(t.db, { integration: 'erp' });
    expect(original!.getTime()).toBeLessThan(snapshots[0].at.getTime());
    expect(await describeVersion(t.db, { integration: 'erp', at: original! })).toBe('the original configuration');
    const { version } = await view('erp');
    const result = await revertToVersion(t.db, {
      integration: 'erp',
      at: original!,
      expectedVersion: version,
      actor: 'eve@example.com',
      definition,
      keyring,
    });
    expect(result.ok).toBe(true);
    expect(historyProjection(await view('erp'))).toEqual(initial);
    expect(await originalConfigMoment(t.db, { integration: 'never-changed' })).toBeNull();
  });
});

describe('history that predates the integration row (the demo seed, an imported trail)', () => {
  const DAY = 86_400_000;
  const rows: { at: Date; field: string; old: unknown; new: unknown }[] = [
    { at: new Date(Date.now() - 12 * DAY), field: 'schedule', old: '0 1 * * *', new: '0 2 * * *' },
    { at: new Date(Date.now() - 9 * DAY), field: 'retryDelays', old: ['1m', '5m'], new: ['30s', '2m', '5m'] },
    { at: new Date(Date.now() - 6 * DAY), field: 'settings.batchSize', old: 50, new: 100 },
  ];

  beforeAll(async () => {
    // Created now, with a trail of changes from days before: every version must still revert.
    await seedIntegration('ledger');
    await t.db
      .update(integrations)
      .set({ retryDelays: ['30s', '2m', '5m'] })
      .where(eq(integrations.name, 'ledger'));
    for (const r of rows) {
      await t.db.insert(auditLog).values({
        changedAt: r.at,
        changedBy: 'grace@example.com',
        kind: 'config',
        integration: 'ledger',
        fieldName: r.field,
        oldValue: r.old,
        newValue: r.new,
        correlationId: 'seed',
      });
    }
  });

  it('reverts to every recorded version and to the original one', async () => {
    const original = await originalConfigMoment(t.db, { integration: 'ledger' });
    const expected = [
      { at: rows[0].at, schedule: '0 2 * * *', retryDelays: ['1m', '5m'], batchSize: 50 },
      { at: rows[1].at, schedule: '0 2 * * *', retryDelays: ['30s', '2m', '5m'], batchSize: 50 },
      { at: rows[2].at, schedule: '0 2 * * *', retryDelays: ['30s', '2m', '5m'], batchSize: 100 },
      { at: original!, schedule: '0 1 * * *', retryDelays: ['1m', '5m'], batchSize: 50 },
    ];
    for (const e of expected) {
      const { version } = await view('ledger');
      const result = await revertToVersion(t.db, {
        integration: 'ledger',
        at: e.at,
        expectedVersion: version,
        actor: 'eve@example.com',
        definition,
        keyring,
      });
      expect(result, e.at.toISOString()).toMatchObject({ ok: true });
      const now = await view('ledger');
      expect({ schedule: now.schedule, retryDelays: now.retryDelays, batchSize: now.settings.batchSize }).toEqual({
        schedule: e.schedule,
        retryDelays: e.retryDelays,
        batchSize: e.batchSize,
      });
    }
  });

  it('names a version that no longer validates in words, not as a timestamp', async () => {
    const at = new Date(Date.now() - 3 * DAY);
    await t.db.insert(auditLog).values({
      changedAt: at,
      changedBy: 'grace@example.com',
      kind: 'config',
      integration: 'ledger',
      fieldName: 'settings.batchSize',
      oldValue: 50,
      newValue: 9999,
      correlationId: 'seed',
    });
    const { version } = await view('ledger');
    const result = await revertToVersion(t.db, {
      integration: 'ledger',
      at,
      expectedVersion: version,
      actor: 'eve@example.com',
      definition,
      keyring,
    });
    expect(result).toMatchObject({ ok: false, code: 'invalid_input' });
    const message = result.ok ? '' : result.message;
    expect(message).toMatch(
      /^Not reverted: the version after grace@example\.com changed settings\.batchSize on \d{1,2} [A-Z][a-z]+ \d{4} /,
    );
    expect(message).not.toMatch(/\d{4}-\d{2}-\d{2}T/);
  });
});

describe('secret values', () => {
  it('never appear in the audit trail or in anything the service returned', async () => {
    returned.push(await changesSince(t.db, { since: new Date(0), limit: 1000 }));
    returned.push(await fieldHistory(t.db, { integration: 'crm', fieldName: 'secret.*' }));
    const everything = JSON.stringify(returned);
    expect(everything.length).toBeGreaterThan(1000);
    for (const value of [SECRET, SECRET_2]) {
      expect(everything).not.toContain(value);
      const [{ n }] = await t.db.$client<{ n: number }[]>`
        select count(*)::int as n from audit_log where audit_log::text like ${`%${value}%`}`;
      expect(n).toBe(0);
      const [{ m }] = await t.db.$client<{ m: number }[]>`
        select count(*)::int as m from integration_secrets where integration_secrets::text like ${`%${value}%`}`;
      expect(m).toBe(0);
    }
    expect((await t.db.select().from(integrationSecrets).where(eq(integrationSecrets.integration, 'crm'))).length).toBe(2);
    expect(await verifyAuditChain(t.db)).toMatchObject({ ok: true });
  });
});
