import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { alertChannels, auditLog } from '../../../db/schema';
import { seedDemo } from '../../../db/seed';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestBoss } from '../../../test/fixtures/platform';
import { createApiToken, revokeApiToken } from '../../auth/api-tokens';
import { updateUser, upsertSignedInUser } from '../../auth/users';
import { integrations as shippedIntegrations } from '../../integrations';
import { createChannel, updateChannel } from '../alerts/channels';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { AUDIT_CONFIG, PLATFORM_EVENTS_QUEUE } from '../execution/events';
import { ensurePlatformQueues } from '../execution/queue';
import { addWebhookSecret, revokeWebhookSecret } from '../intake/secrets';
import { buildRegistry, syncRegistry } from '../registry';
import { pauseIntegration, resumeIntegration } from '../triggers/triggers';
import { exactTime } from '../when';
import { auditChainStatus } from './audit';
import { verifyAuditAnchors, writeAuditAnchor } from './audit-anchors';
import { runAuditVerification } from './audit-guard';
import { getIntegrationConfig, updateIntegrationConfig } from './config';
import { recordConfigBaselines, type ConfigBaseline } from './config-baseline';
import { configDrift, lastDriftOf, type ConfigDriftFinding } from './config-drift';
import { configAsOf, originalConfigMoment, revertToVersion } from './config-history';
import { driftToKeep, keepDriftedConfig } from './config-keep';
import { keyringFrom } from './crypto';

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
const key = randomBytes(32);

/** Registered with defaults, never edited: its row holds what the code gave it, unaudited. */
const fresh = defineIntegration({
  name: 'fresh-import',
  description: 'Registered, never edited',
  settings: z.object({ pageSize: z.number(), region: z.string() }).strict(),
  secrets: ['token'],
  defaults: {
    schedule: '15 3 * * 1-5',
    timezone: 'Europe/Berlin',
    retry: { delays: ['10s', '1m'] },
    breaker: { failures: 7, cooldown: '5m' },
    attemptTimeout: '20m',
    settings: { pageSize: 250, region: 'eu' },
  },
  async execute() {
    return {};
  },
}) as IntegrationDefinition;

const registry = buildRegistry([...shippedIntegrations, fresh]);

let t: TestDatabase;
let boss: PgBoss;
let dir: string;

beforeAll(async () => {
  t = await freshDatabase();
  boss = await startTestBoss(t.url);
  await ensurePlatformQueues(boss);
  dir = mkdtempSync(path.join(os.tmpdir(), 'junction-config-drift-'));
  const seeded = await seedDemo(t.db, {
    syncIntegrations: (db) => syncRegistry(db, { registry }).then(() => {}),
    sandboxUrl: 'http://localhost:4000',
    appUrl: 'http://localhost:3000',
    keyring,
    credentials: {
      'accounting-export': { clientId: 'accounting-export', clientSecret: 'dev-accounting-secret' },
      'crm-sync': { apiKey: 'dev-crm-key' },
    },
  });
  expect(seeded).toBe(true);
});

afterAll(async () => {
  await boss?.stop({ graceful: false });
  await t?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function verification() {
  const result = await runAuditVerification(t.db, { dir, key, events: boss });
  if ('skipped' in result) throw new Error('another verification was running');
  return result;
}

async function drainEvents(): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  for (;;) {
    const [job] = await boss.fetch(PLATFORM_EVENTS_QUEUE);
    if (!job) return events;
    await boss.complete(PLATFORM_EVENTS_QUEUE, job.id);
    events.push(job.data as Record<string, unknown>);
  }
}

async function edit(integration: string, patch: Record<string, unknown>) {
  const current = await getIntegrationConfig(t.db, { integration });
  const result = await updateIntegrationConfig(t.db, {
    integration,
    expectedVersion: current!.version,
    patch,
    actor: 'grace.admin@junction.local',
    definition: registry.get(integration)!,
    keyring,
  });
  if (!result.ok) throw new Error(result.message);
  return result;
}

/** History's revert of `integration` to the version at `at`, as `actor` (the current version read first). */
async function revert(integration: string, at: Date, actor = 'ada.admin@junction.local') {
  const current = await getIntegrationConfig(t.db, { integration });
  return revertToVersion(t.db, {
    integration,
    at,
    expectedVersion: current!.version,
    actor,
    definition: registry.get(integration)!,
    keyring,
  });
}

/** The last audit row of a field, for the time and person a finding names. */
async function lastAudit(integration: string | null, fieldName: string) {
  const rows = await t.db.select().from(auditLog).where(eq(auditLog.fieldName, fieldName));
  const row = rows.filter((r) => r.integration === integration).sort((a, b) => b.id - a.id)[0];
  return `saved by ${row.changedBy} on ${exactTime(row.changedAt)}`;
}

const drifted = (findings: { kind: string }[]) =>
  findings.filter((f): f is ConfigDriftFinding => f.kind === 'config_drift').map((f) => `${f.target} ${f.name} ${f.field}`);

describe('configuration changed outside the config service', () => {
  it('finds nothing on a freshly seeded database: registered defaults, seeded history and secrets, a never-edited integration', async () => {
    expect(await configDrift(t.db)).toEqual([]);
    expect((await writeAuditAnchor(t.db, { dir, key })).written).toHaveLength(1);
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    expect(await drainEvents()).toEqual([]);
  });

  it('compares every field of the seeded alert channel, never edited since: its creation is in the trail', async () => {
    const [seeded] = await t.db.select().from(alertChannels).where(eq(alertChannels.name, 'Ops webhook (sandbox)'));
    // Alerts redirected to somebody else's server, by SQL.
    await t.db.$client`update alert_channels set config = '{"url": "https://collector.example.net/hook"}' where id = ${seeded.id}`;
    const failed = await verification();
    expect(drifted(failed.findings)).toEqual(['alert_channel Ops webhook (sandbox) url']);
    expect(failed.findings[0].message).toBe(
      `alert channel 'Ops webhook (sandbox)': url is "https://collector.example.net/hook" but the audit trail's last value is "http://localhost:4000/catcher/webhook/ops" (${await lastAudit(null, 'channel.Ops webhook (sandbox).url')}): changed outside the config service, no audit row (URLs masked: a webhook URL may carry a token; the admin edit form has the stored one whole)`,
    );
    // A URL with a token is named without it: the finding goes to the Audit page and to every channel.
    await t.db
      .$client`update alert_channels set config = '{"url": "https://collector.example.net/in/Xk9QzTokenAbc123?token=SuperSecretQ77"}' where id = ${seeded.id}`;
    const masked = (await verification()).findings[0].message;
    expect(masked).toContain('url is "https://collector.example.net/in/…?token=***"');
    expect(masked).not.toMatch(/Xk9QzTokenAbc123|SuperSecretQ77/);
    await drainEvents();
    expect(await lastAudit(null, 'channel.Ops webhook (sandbox).url')).toMatch(/^saved by ada\.admin@junction\.local on /);
    await t.db.$client`update alert_channels set config = ${JSON.stringify(seeded.config)}::jsonb where id = ${seeded.id}`;
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    await drainEvents();
  });

  it('passes after changes made through the config service, pause and resume, and the alert channel commands', async () => {
    const before = await getIntegrationConfig(t.db, { integration: 'accounting-export' });
    await edit('accounting-export', {
      schedule: '30 1 * * *',
      timezone: 'europe/berlin',
      retryDelays: ['1m', '10m'],
      retryBudget: 0.25,
      attemptTimeout: '45m',
      settings: { ...before!.settings, batchSize: 40 },
      secrets: { clientSecret: 'a-new-client-secret' },
    });
    await edit('fresh-import', { breakerFailures: 2, settings: { pageSize: 100, region: 'eu' }, secrets: { token: 'tok-1' } });
    // A revert is the service too: the original configuration back, audited field by field.
    const reverted = await revert('fresh-import', new Date(Date.now() - 60 * 60_000), 'grace.admin@junction.local');
    expect(reverted).toMatchObject({ ok: true, changed: expect.arrayContaining(['breakerFailures', 'settings.pageSize']) });

    await pauseIntegration(t.db, boss, { integration: 'payment-events', by: 'oscar.operator@junction.local' });
    await pauseIntegration(t.db, boss, { integration: 'crm-sync', by: 'oscar.operator@junction.local' });
    await resumeIntegration(t.db, boss, { integration: 'crm-sync', by: 'oscar.operator@junction.local' });

    const created = await createChannel(t.db, {
      input: { type: 'webhook', name: 'Finance hook', url: 'https://hooks.example.com/finance', hmacSecret: 'finance-hmac-key-0123456789' },
      actor: 'ada.admin@junction.local',
      keyring,
    });
    if (!created.ok) throw new Error(created.message);
    // Renamed and turned into an e-mail channel (the HMAC key removed) in one edit.
    const renamed = await updateChannel(t.db, {
      id: created.id,
      expectedVersion: 1,
      input: {
        type: 'email',
        name: 'Finance mail',
        to: ['fin@example.com'],
        from: 'junction@example.com',
        smtpUrl: 'smtp://mail.example.com:25',
      },
      actor: 'ada.admin@junction.local',
      keyring,
    });
    expect(renamed).toMatchObject({ ok: true });
    const [seededChannel] = await t.db.select().from(alertChannels).where(eq(alertChannels.name, 'Ops webhook (sandbox)'));
    expect(
      await updateChannel(t.db, {
        id: seededChannel.id,
        expectedVersion: seededChannel.version,
        input: { type: 'webhook', name: 'Ops webhook (sandbox)', url: 'http://localhost:4000/catcher/webhook/ops', enabled: false },
        actor: 'ada.admin@junction.local',
        keyring,
      }),
    ).toMatchObject({ ok: true });

    expect(await configDrift(t.db)).toEqual([]);
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    expect(await drainEvents()).toEqual([]);
  });

  it('reports a channel inserted around the console; migration 0036 records those from before, once', async () => {
    const raw = t.db.$client;
    await raw`insert into alert_channels (name, type, config, updated_by) values ('Exfil', 'webhook', '{"url": "https://exfil.example.net/in"}', 'ada.admin@junction.local')`;
    const found = (await verifyAuditAnchors(t.db, { dir, key })).findings.filter(
      (f): f is ConfigDriftFinding => f.kind === 'config_drift' && f.name === 'Exfil',
    );
    expect(found.map((f) => f.message)).toEqual([
      "alert channel 'Exfil': a webhook channel by this name exists (enabled: it gets every alert) but the audit trail never recorded its creation (inserted, or renamed, outside the console): changed outside the config service, no audit row",
    ]);
    // As a channel from before creation rows were written: the migration records what is stored, once.
    const migration = readFileSync(path.join(process.cwd(), 'db/migrations/0036_channel_creation_baselines.sql'), 'utf8');
    const before = (await t.db.select().from(auditLog)).length;
    await raw.unsafe(migration);
    await raw.unsafe(migration);
    const recorded = (await t.db.select().from(auditLog)).slice(before);
    expect(recorded.map((r) => [r.fieldName, r.newValue, r.changedBy])).toEqual([
      ['channel.Exfil.name', 'Exfil', 'system'],
      ['channel.Exfil.type', 'webhook', 'system'],
      ['channel.Exfil.enabled', true, 'system'],
      ['channel.Exfil.url', 'https://exfil.example.net/in', 'system'],
    ]);
    expect(new Set(recorded.map((r) => r.correlationId)).size).toBe(1);
    expect(drifted(await configDrift(t.db)).filter((f) => f.includes('Exfil'))).toEqual([]);
    // From then on, every field of it is compared.
    await raw`update alert_channels set config = '{"url": "https://other.example.net/in"}' where name = 'Exfil'`;
    expect(drifted(await configDrift(t.db)).filter((f) => f.includes('Exfil'))).toEqual(['alert_channel Exfil url']);
    // Put back (deleting it directly would be a finding of its own: its name gone from the trail's channels).
    await raw`update alert_channels set config = '{"url": "https://exfil.example.net/in"}' where name = 'Exfil'`;
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    await drainEvents();
  });

  it('fails on a direct UPDATE of an audited column, naming the integration, the field and both values', async () => {
    await t.db.$client`update integrations set retry_delays = '["1s"]'::jsonb where name = 'accounting-export'`;
    const failed = await verification();
    expect(failed.ok).toBe(false);
    expect(failed.findings).toEqual([
      {
        kind: 'config_drift',
        target: 'integration',
        name: 'accounting-export',
        field: 'retryDelays',
        message: `accounting-export: retryDelays is ["1s"] but the audit trail's last value is ["1m","10m"] (${await lastAudit('accounting-export', 'retryDelays')}): changed outside the config service, no audit row`,
      },
    ]);
    const [event] = await drainEvents();
    // Said as configuration changed around the trail, not as tampering with it (alerts/messages.ts).
    expect(event).toMatchObject({ type: 'audit.chain_broken', integration: AUDIT_CONFIG, configDriftOnly: true });
    expect(String(event.problem)).toContain('accounting-export: retryDelays is ["1s"]');

    // The Audit page tells the trail's problems and the configuration's apart.
    const status = await auditChainStatus(t.db);
    expect(status).toMatchObject({ ok: false, trailProblem: null, full: { ok: false } });
    expect(status.full?.configDrift).toEqual([failed.findings[0].message]);
  });

  it('names every kind of audited field changed directly: settings, mapping, numbers, pause, secrets', async () => {
    const raw = t.db.$client;
    await raw`update integrations set settings = settings || '{"batchSize": 500}'::jsonb, retry_budget = 0.5, schedule = null where name = 'accounting-export'`;
    await raw`update integrations set paused = false, paused_at = null where name = 'payment-events'`;
    await raw`update integrations set paused = true, paused_at = now(), mapping = '{"fields": []}'::jsonb where name = 'crm-sync'`;
    await raw`delete from integration_secrets where integration = 'crm-sync' and name = 'apiKey'`;
    await raw`insert into integration_secrets (integration, name, sealed, key_id, updated_by)
              select 'accounting-export', 'smuggled', sealed, key_id, 'mallory' from integration_secrets where integration = 'accounting-export' limit 1`;
    const { findings } = await verifyAuditAnchors(t.db, { dir, key });
    expect(drifted(findings).sort()).toEqual(
      [
        'integration accounting-export retryDelays',
        'integration accounting-export settings.batchSize',
        'integration accounting-export retryBudget',
        'integration accounting-export schedule',
        'integration accounting-export secret.smuggled',
        'integration crm-sync mapping',
        'integration crm-sync paused',
        'integration crm-sync secret.apiKey',
        'integration payment-events paused',
      ].sort(),
    );
    const messages = findings.map((f) => f.message);
    expect(messages).toContain(
      `accounting-export: settings.batchSize is 500 but the audit trail's last value is 40 (${await lastAudit('accounting-export', 'settings.batchSize')}): changed outside the config service, no audit row`,
    );
    expect(messages).toContain(
      `crm-sync: paused is true but the audit trail's last pause or resume is 'resume' by oscar.operator@junction.local on ${exactTime((await t.db.select().from(auditLog).where(eq(auditLog.fieldName, 'resume'))).sort((a, b) => b.id - a.id)[0].changedAt)}: changed outside the config service, no audit row`,
    );
    expect(messages).toContain(
      `crm-sync: secret.apiKey is not stored but the audit trail says it was set (${await lastAudit('crm-sync', 'secret.apiKey')}): removed outside the config service, no audit row`,
    );
    expect(messages).toContain(
      'accounting-export: secret.smuggled is stored but the audit trail never recorded it being set: changed outside the config service, no audit row',
    );
    // crm-sync's mapping was never saved: compared with what it was registered with (config-baseline.ts).
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^crm-sync: mapping is \{"fields":\[\]\} but it was registered with null on .* and never saved since: changed outside/,
      ),
    );
  });

  it('reports an alert channel changed directly, and one renamed or deleted directly', async () => {
    await t.db
      .$client`update alert_channels set enabled = false, config = config || '{"to": ["mallory@example.com"]}'::jsonb where name = 'Finance mail'`;
    await t.db.$client`update alert_channels set enabled = true where name = 'Ops webhook (sandbox)'`;
    const { findings } = await verifyAuditAnchors(t.db, { dir, key });
    const channels = findings.filter((f): f is ConfigDriftFinding => f.kind === 'config_drift' && f.target === 'alert_channel');
    expect(channels.map((f) => `${f.name} ${f.field}`).sort()).toEqual([
      'Finance mail enabled',
      'Finance mail to',
      'Ops webhook (sandbox) enabled',
    ]);
    expect(channels.find((f) => f.field === 'to')?.message).toBe(
      `alert channel 'Finance mail': to is ["mallory@example.com"] but the audit trail's last value is ["fin@example.com"] (${await lastAudit(null, 'channel.Finance mail.to')}): changed outside the config service, no audit row`,
    );

    await t.db.$client`update alert_channels set name = 'Renamed quietly' where name = 'Finance mail'`;
    const after = drifted((await verifyAuditAnchors(t.db, { dir, key })).findings).filter((f) => f.startsWith('alert_channel'));
    // Both ends of the rename: the audited name is gone, the new one has no creation row.
    expect(after.sort()).toEqual([
      'alert_channel Finance mail name',
      'alert_channel Ops webhook (sandbox) enabled',
      'alert_channel Renamed quietly name',
    ]);
  });

  it('passes again once the configuration in force is saved through the console', async () => {
    // The smuggled secret has no place in the console: it goes the way it came.
    await t.db.$client`delete from integration_secrets where name = 'smuggled'`;
    // The channels saved with the values the trail has (each save records the difference it undoes).
    for (const [name, input] of [
      [
        'Renamed quietly',
        {
          type: 'email',
          name: 'Finance mail',
          to: ['fin@example.com'],
          from: 'junction@example.com',
          smtpUrl: 'smtp://mail.example.com:25',
        },
      ],
      [
        'Ops webhook (sandbox)',
        { type: 'webhook', name: 'Ops webhook (sandbox)', url: 'http://localhost:4000/catcher/webhook/ops', enabled: false },
      ],
    ] as const) {
      const [row] = await t.db.select().from(alertChannels).where(eq(alertChannels.name, name));
      const saved = await updateChannel(t.db, {
        id: row.id,
        expectedVersion: row.version,
        input,
        actor: 'ada.admin@junction.local',
        keyring,
      });
      expect(saved).toMatchObject({ ok: true });
    }
    // Integrations through the service: a revert to the latest change, a secret set again, resume and pause.
    const last = (await t.db.select().from(auditLog).where(eq(auditLog.integration, 'accounting-export'))).sort((a, b) => b.id - a.id)[0];
    const reverted = await revert('accounting-export', last.changedAt);
    expect(reverted).toMatchObject({ ok: true });
    await edit('crm-sync', { secrets: { apiKey: 'dev-crm-key' } });
    // crm-sync has no field mapping to save in the console: put back by hand, as it was registered.
    await t.db.$client`update integrations set mapping = null where name = 'crm-sync'`;
    await resumeIntegration(t.db, boss, { integration: 'crm-sync', by: 'oscar.operator@junction.local' });
    await pauseIntegration(t.db, boss, { integration: 'payment-events', by: 'oscar.operator@junction.local' });

    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    const events = await drainEvents();
    expect(events.map((e) => e.type)).toEqual(['audit.chain_verified']);
    expect(await auditChainStatus(t.db)).toMatchObject({
      ok: true,
      problem: null,
      trailProblem: null,
      full: { ok: true, configDrift: [] },
    });
  });

  it('reports a field never saved through the console, changed directly, against what it was registered with', async () => {
    // fresh-import's breaker cooldown and crm-sync's schedule were never edited: no config row.
    await t.db.$client`update integrations set breaker_cooldown = '1s' where name = 'fresh-import'`;
    await t.db.$client`update integrations set schedule = '* * * * *' where name = 'crm-sync'`;
    const [registered] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.integration, 'fresh-import'), eq(auditLog.fieldName, 'register')));
    expect(registered).toMatchObject({ kind: 'action', changedBy: 'system', newValue: { source: 'registered' } });
    const failed = await verification();
    expect(drifted(failed.findings)).toEqual(['integration crm-sync schedule', 'integration fresh-import breakerCooldown']);
    expect(failed.findings.find((f) => 'field' in f && f.field === 'breakerCooldown')?.message).toBe(
      `fresh-import: breakerCooldown is "1s" but it was registered with "5m" on ${exactTime(registered.changedAt)} and never saved since: changed outside the config service, no audit row`,
    );
    expect((await drainEvents()).map((e) => [e.type, e.configDriftOnly])).toEqual([['audit.chain_broken', true]]);

    // Put back by hand: nothing to report (the values are the registered ones again).
    await t.db.$client`update integrations set breaker_cooldown = '5m' where name = 'fresh-import'`;
    const [crm] = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.integration, 'crm-sync'), eq(auditLog.fieldName, 'register')));
    const schedule = (crm.newValue as ConfigBaseline).baseline.schedule as string;
    await t.db.$client`update integrations set schedule = ${schedule} where name = 'crm-sync'`;
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    await drainEvents();
  });

  it('puts a field never saved back with History: a revert to the newest change, or to the original configuration', async () => {
    await t.db
      .$client`update integrations set breaker_cooldown = '1s', settings = settings || '{"region": "us"}'::jsonb where name = 'fresh-import'`;
    await t.db
      .$client`update integrations set schedule = '* * * * *', settings = settings || '{"sneaky": 1}'::jsonb where name = 'payment-events'`;
    const found = await verification();
    expect(drifted(found.findings).sort()).toEqual([
      'integration fresh-import breakerCooldown',
      'integration fresh-import settings.region',
      'integration payment-events schedule',
      'integration payment-events settings.sneaky',
    ]);
    expect(found.findings.map((f) => f.message)).toContainEqual(
      expect.stringMatching(
        /^payment-events: settings\.sneaky is 1 but it was registered without it on .* and never saved since: changed outside/,
      ),
    );
    await drainEvents();
    // The integration's pages say it (components/integrations/drift-notice.tsx), with the version to revert to.
    const notice = await lastDriftOf(t.db, { integration: 'fresh-import' });
    expect(notice?.messages.map((m) => m.split(' is ')[0]).sort()).toEqual([
      'fresh-import: breakerCooldown',
      'fresh-import: settings.region',
    ]);
    expect(notice?.newestChange).toBe(
      Math.max(
        ...(
          await t.db
            .select()
            .from(auditLog)
            .where(and(eq(auditLog.integration, 'fresh-import'), eq(auditLog.kind, 'config')))
        ).map((r) => r.id),
      ),
    );
    expect(await lastDriftOf(t.db, { integration: 'payment-events' })).toMatchObject({
      newestChange: null,
      fields: ['schedule', 'settings.sneaky'],
    });
    expect(await lastDriftOf(t.db, { integration: 'crm-sync' })).toBeNull();

    // fresh-import was changed through the console before: its newest version holds the registered cooldown.
    const [newest] = (
      await t.db
        .select()
        .from(auditLog)
        .where(and(eq(auditLog.integration, 'fresh-import'), eq(auditLog.kind, 'config')))
    ).sort((a, b) => b.id - a.id);
    const reverted = await revert('fresh-import', newest.changedAt);
    expect(reverted.ok && [...reverted.changed].sort()).toEqual(['breakerCooldown', 'settings.region']);

    // payment-events never was: its original configuration is the one it was registered with.
    const original = await originalConfigMoment(t.db, { integration: 'payment-events' });
    expect(original).toBeInstanceOf(Date);
    expect(await configAsOf(t.db, { integration: 'payment-events', at: original! })).toMatchObject({
      schedule: registry.get('payment-events')!.defaults?.schedule ?? null,
    });
    expect(await revert('payment-events', original!)).toMatchObject({ ok: true, changed: ['schedule', 'settings.sneaky'] });
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    expect(await lastDriftOf(t.db, { integration: 'fresh-import' })).toBeNull();
    await drainEvents();
  });

  it('keeps values written outside the console in one step, when they pass the checks a save makes', async () => {
    /** As the integration page does: what there is to keep is shown, and sent back with the request. */
    const keep = async (integration: string, seen?: Record<string, string>) =>
      keepDriftedConfig(t.db, {
        integration,
        seen: seen ?? (await driftToKeep(t.db, { integration })).seen,
        actor: 'ada.admin@junction.local',
        definition: registry.get(integration)!,
      });
    // An emergency fix in SQL: one audited column, one never-saved setting, and the paused flag.
    await t.db
      .$client`update integrations set breaker_failures = 12, settings = settings || '{"region": "us"}'::jsonb, paused = true where name = 'fresh-import'`;
    expect(drifted((await verification()).findings).sort()).toEqual([
      'integration fresh-import breakerFailures',
      'integration fresh-import paused',
      'integration fresh-import settings.region',
    ]);
    await drainEvents();
    const before = await getIntegrationConfig(t.db, { integration: 'fresh-import' });
    const shown = await driftToKeep(t.db, { integration: 'fresh-import' });
    expect(shown.fields).toEqual([
      { field: 'breakerFailures', stored: '12', audited: '7' },
      { field: 'settings.region', stored: '"us"', audited: '"eu"' },
    ]);
    // Written again after the page showed it: what the admin did not see is not kept.
    await t.db.$client`update integrations set breaker_failures = 13 where name = 'fresh-import'`;
    expect(await keep('fresh-import', shown.seen)).toEqual({
      ok: false,
      code: 'stale',
      message: 'Not kept: breakerFailures is now 13, not what this page showed. Reload and check the values again.',
    });
    await t.db.$client`update integrations set breaker_failures = 12 where name = 'fresh-import'`;

    const kept = await keep('fresh-import');
    expect(kept).toEqual({ ok: true, version: before!.version + 1, changed: ['breakerFailures', 'settings.region'] });
    const rows = await t.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.integration, 'fresh-import'), eq(auditLog.changedBy, 'ada.admin@junction.local')));
    const newest = rows.sort((a, b) => b.id - a.id).slice(0, 3);
    expect(new Set(newest.map((r) => r.correlationId)).size).toBe(1);
    expect(newest.map((r) => [r.fieldName, r.oldValue, r.newValue]).sort()).toEqual([
      ['breakerFailures', 7, 12],
      ['drift_kept', null, { fields: ['breakerFailures', 'settings.region'] }],
      ['settings.region', 'eu', 'us'],
    ]);
    // The values stay; only the pause, which has its own fix, is still reported. The check was requested.
    expect((await auditChainStatus(t.db)).checkRequested).toMatchObject({ by: 'ada.admin@junction.local' });
    const after = await verification();
    expect(drifted(after.findings)).toEqual(['integration fresh-import paused']);
    expect(await getIntegrationConfig(t.db, { integration: 'fresh-import' })).toMatchObject({
      breakerFailures: 12,
      settings: { pageSize: 250, region: 'us' },
    });
    expect(await keep('fresh-import')).toMatchObject({
      ok: false,
      code: 'invalid_input',
      message: expect.stringMatching(/^Nothing to keep/),
    });
    await t.db.$client`update integrations set paused = false where name = 'fresh-import'`;

    // A value the console would refuse is not kept, and nothing is written.
    await t.db
      .$client`update integrations set breaker_failures = 500, settings = settings || '{"pageSize": "lots"}'::jsonb where name = 'fresh-import'`;
    const count = async () => (await t.db.select().from(auditLog)).length;
    const rowsBefore = await count();
    const refused = await keep('fresh-import');
    expect(refused).toMatchObject({ ok: false, code: 'invalid_input' });
    expect(!refused.ok && refused.message).toMatch(
      /^Not kept: the stored breakerFailures must be at most 100; settings\.pageSize .*revert to the newest change on History\.$/,
    );
    expect(await count()).toBe(rowsBefore);
    await t.db
      .$client`update integrations set breaker_failures = 12, settings = settings || '{"pageSize": 250}'::jsonb where name = 'fresh-import'`;
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    await drainEvents();
  });

  it('records the configuration in force as the baseline of an integration registered before baselines existed', async () => {
    // As a database from before: an integration row without its 'register' row.
    await t.db.$client`
      insert into integrations (name, description, timezone, retry_delays, breaker_key, breaker_failures, breaker_cooldown, settings, updated_by)
      values ('legacy-import', 'Registered long ago', 'UTC', '["2m"]', 'legacy-import', 4, '2m', '{"pageSize": 10}', 'system')`;
    expect(await recordConfigBaselines(t.db, { registered: [] })).toEqual(['legacy-import']);
    expect(await recordConfigBaselines(t.db, { registered: [] })).toEqual([]);
    await t.db.$client`update integrations set settings = '{"pageSize": 10000}' where name = 'legacy-import'`;
    const failed = await verification();
    expect(failed.findings.map((f) => f.message)).toEqual([
      expect.stringMatching(
        /^legacy-import: settings\.pageSize is 10000 but the baseline recorded on .* says 10 and it was never saved since: changed outside/,
      ),
    ]);
    await t.db.$client`delete from integrations where name = 'legacy-import'`;
    expect(await verification()).toMatchObject({ ok: true });
    await drainEvents();
  });

  it('names an API token, a signing secret or a user changed around the services that audit them', async () => {
    const ada = await upsertSignedInUser(t.db, {
      subject: 'ada-sub',
      email: 'ada.admin@junction.local',
      name: 'Ada',
      initialRole: 'admin',
    });
    const vera = await upsertSignedInUser(t.db, {
      subject: 'vera-sub',
      email: 'vera@junction.local',
      name: 'Vera',
      initialRole: 'operator',
    });
    const never = await upsertSignedInUser(t.db, {
      subject: 'nora-sub',
      email: 'nora@junction.local',
      name: 'Nora',
      initialRole: 'viewer',
    });
    await updateUser(t.db, { userId: vera.id, role: 'viewer', actor: 'ada.admin@junction.local' });
    const { token } = await createApiToken(t.db, {
      input: { name: 'nightly-script', role: 'viewer', expiresInDays: 30 },
      creator: { id: ada.id, actor: 'ada.admin@junction.local' },
    });
    const { token: revoked } = await createApiToken(t.db, {
      input: { name: 'old-script', role: 'viewer', expiresInDays: 30 },
      creator: { id: ada.id, actor: 'ada.admin@junction.local' },
    });
    await revokeApiToken(t.db, { id: revoked.id, actor: 'ada.admin@junction.local' });
    const { id: secretId } = await addWebhookSecret(t.db, keyring, {
      def: registry.get('payment-events')!,
      label: 'primary',
      actor: 'ada.admin@junction.local',
    });
    const { id: oldSecretId } = await addWebhookSecret(t.db, keyring, {
      def: registry.get('payment-events')!,
      label: 'rotated out',
      actor: 'ada.admin@junction.local',
    });
    await revokeWebhookSecret(t.db, { integration: 'payment-events', id: oldSecretId, actor: 'ada.admin@junction.local' });
    // Everything through the services: nothing to report.
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    await drainEvents();

    const raw = t.db.$client;
    await raw`update users set role = 'admin' where id = ${vera.id}`;
    await raw`update api_tokens set role = 'operator' where id = ${token.id}`;
    await raw`update api_tokens set revoked_at = null, revoked_by = null where id = ${revoked.id}`;
    await raw`insert into api_tokens (name, role, token_hash, prefix, created_by_user_id, created_by, expires_at)
              values ('smuggled', 'operator', 'not-a-real-hash', 'jt_smug', ${ada.id}, 'ada.admin@junction.local', now() + interval '1 day')`;
    await raw`update webhook_secrets set revoked_at = null, revoked_by = null where id = ${oldSecretId}`;
    await raw`update users set role = 'admin' where id = ${never.id}`;
    await raw`update users set disabled = true where id = ${ada.id}`;
    await raw`insert into users (subject, email, name, role) values ('mallory-sub', 'mallory@junction.local', 'Mallory', 'admin')`;
    const failed = await verification();
    expect(drifted(failed.findings).sort()).toEqual(
      [
        'api_token nightly-script role',
        'api_token old-script revoked',
        'api_token smuggled created',
        'user ada.admin@junction.local disabled',
        'user mallory@junction.local role',
        'user nora@junction.local role',
        'user vera@junction.local role',
        'webhook_secret payment-events revoked',
      ].sort(),
    );
    const messages = failed.findings.map((f) => f.message);
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^user vera@junction\.local: role is "admin" but the audit trail's last value is "viewer" \(saved by ada\.admin@junction\.local on /,
      ),
    );
    expect(messages).toContainEqual(
      expect.stringMatching(/^API token 'nightly-script' \(.+…, operator\) expiring .+ was created with the viewer role/),
    );
    expect(messages).toContainEqual(
      expect.stringMatching(/^API token 'smuggled' \(jt_smug…, operator\) is live but the audit trail never recorded its creation/),
    );
    expect(messages).toContainEqual(
      expect.stringMatching(/^payment-events: signing secret 'rotated out' is active but the audit trail says it was revoked/),
    );
    // Nora's role came from the identity provider at her first sign-in, audited as such.
    expect(messages).toContainEqual(
      expect.stringMatching(
        /^user nora@junction\.local: role is "admin" but the audit trail's last value is "viewer" \(saved by identity provider on /,
      ),
    );
    expect(messages).toContain(
      'user ada.admin@junction.local: disabled is true but the audit trail records no admin disabling them: changed outside the config service, no audit row',
    );
    expect(messages).toContain(
      'user mallory@junction.local: role is "admin" but the audit trail records no role for them, not even their first sign-in: changed outside the config service, no audit row',
    );
    void secretId;

    // Vera's e-mail changed at the identity provider: the trail follows her to the new one.
    const moved = await upsertSignedInUser(t.db, {
      subject: 'vera-sub',
      email: 'vera.v@junction.local',
      name: 'Vera',
      initialRole: 'operator',
    });
    expect(moved.role).toBe('admin');
    expect(drifted((await verification()).findings)).toContain('user vera.v@junction.local role');

    // Put back: the next check passes.
    await raw`update users set role = 'viewer' where id = ${vera.id}`;
    await raw`update users set role = 'viewer' where id = ${never.id}`;
    await raw`update users set disabled = false where id = ${ada.id}`;
    await raw`delete from users where subject = 'mallory-sub'`;
    await raw`update api_tokens set role = 'viewer' where id = ${token.id}`;
    await raw`update api_tokens set revoked_at = now(), revoked_by = 'ada.admin@junction.local' where id = ${revoked.id} or name = 'smuggled'`;
    await raw`update webhook_secrets set revoked_at = now(), revoked_by = 'ada.admin@junction.local' where id = ${oldSecretId}`;
    expect(await verification()).toMatchObject({ ok: true, findings: [] });
    await drainEvents();
  });
});
