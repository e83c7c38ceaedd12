import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alerts, incidents } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startTestServer } from '../../../test/fixtures/http-server';
import { parsePlatformEvent } from '../alerts/event-schema';
import { handlePlatformEvent } from '../alerts/incidents';
import { createBoss } from '../execution/boss';
import { AUDIT_CONFIG, AUDIT_TRAIL, NEW_PROBLEMS, PLATFORM_EVENTS_QUEUE } from '../execution/events';
import { ensurePlatformQueues } from '../execution/queue';
import { auditParts, fingerprint } from '../read-models/live-fingerprint';
import { appendAudit, AUDIT_VERIFY_LOCK, auditChainStatus, requestAuditCheck } from './audit';
import { checkpointMessage, writeAuditAnchor } from './audit-anchors';
import { newProblems, runAuditVerification, startAuditGuard, type AuditGuardOptions } from './audit-guard';
import { recordConfigBaselines } from './config-baseline';

let t: TestDatabase;
let boss: PgBoss;
let dir: string;
const key = randomBytes(32);

beforeAll(async () => {
  t = await freshDatabase();
  boss = createBoss(t.url, { max: 2, registerInstance: false, supervise: false, schedule: false });
  boss.removeAllListeners('error');
  boss.on('error', () => {});
  await boss.start();
  await ensurePlatformQueues(boss);
  dir = mkdtempSync(path.join(os.tmpdir(), 'junction-audit-guard-'));
});

afterAll(async () => {
  await boss?.stop({ graceful: false });
  await t.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function append(n: number) {
  for (let i = 0; i < n; i++) {
    await appendAudit(t.db, {
      actor: 'ada@example.com',
      entries: [{ kind: 'config', integration: 'x', fieldName: 'settings.batchSize', oldValue: i, newValue: i + 1 }],
    });
  }
}

async function nextEvent() {
  const [job] = await boss.fetch(PLATFORM_EVENTS_QUEUE);
  if (!job) return null;
  await boss.complete(PLATFORM_EVENTS_QUEUE, job.id);
  return job.data as Record<string, unknown>;
}

describe('Audit page chain status (incremental)', () => {
  it('checks only the rows written since the last view and keeps its position', async () => {
    await append(3);
    expect(await auditChainStatus(t.db)).toMatchObject({ ok: true, rows: 3, checkedNow: 3, problem: null, full: null });
    expect(await auditChainStatus(t.db)).toMatchObject({ ok: true, rows: 3, checkedNow: 0 });
    await append(2);
    expect(await auditChainStatus(t.db)).toMatchObject({ ok: true, rows: 5, checkedNow: 2 });
  });

  it('reports a row changed after the verified position at once', async () => {
    await append(2);
    const [{ id }] = await t.db.$client<{ id: string }[]>`select max(id) as id from audit_log`;
    const raw = t.db.$client;
    await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
    await raw.unsafe(`update audit_log set changed_by = 'mallory' where id = ${id}`);
    await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
    expect(await auditChainStatus(t.db)).toMatchObject({
      ok: false,
      checkedNow: 2,
      problem: `audit row ${id} does not match its hash: it was changed after it was written`,
    });
    await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
    await raw.unsafe(`update audit_log set changed_by = 'ada@example.com' where id = ${id}`);
    await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
    expect(await auditChainStatus(t.db)).toMatchObject({ ok: true, rows: 7, checkedNow: 2 });
  });
});

describe('scheduled full verification', () => {
  it('passes, records itself for the page, and raises an audit incident with an alert when tampering is found', async () => {
    expect((await writeAuditAnchor(t.db, { dir, key })).written).toHaveLength(1);
    const passed = await runAuditVerification(t.db, { dir, key, events: boss });
    expect(passed).toMatchObject({ ok: true, rows: 7, anchors: 1 });
    expect(await nextEvent()).toBeNull();
    expect(await auditChainStatus(t.db)).toMatchObject({ ok: true, full: { ok: true, findings: [] }, anchor: { seq: 1 } });

    // The owner deletes the tail the page already verified: the page shows it (row gone) and the job names it.
    const [{ id }] = await t.db.$client<{ id: string }[]>`select max(id) as id from audit_log`;
    await t.db.$client.unsafe(
      `alter table audit_log disable trigger audit_log_no_update; delete from audit_log where id = ${id}; alter table audit_log enable trigger audit_log_no_update`,
    );
    expect((await auditChainStatus(t.db)).problem).toBe(
      `audit row ${id}, verified earlier, is gone or no longer has the hash it had: the trail was changed in the database`,
    );

    const failed = await runAuditVerification(t.db, { dir, key, events: boss });
    expect(failed).toMatchObject({ ok: false, findings: [{ kind: 'shorter', anchorLastId: Number(id) }] });
    const event = await nextEvent();
    expect(event).toMatchObject({ type: 'audit.chain_broken', integration: AUDIT_TRAIL, configDriftOnly: false });
    expect(String(event?.problem)).toMatch(/^chain shorter than the last anchor: it ends at row \d+ \(6 rows\), anchor #1/);

    // Through the existing alerting: one incident, one alert saying what was found.
    const parsed = parsePlatformEvent(event);
    if (!parsed.ok) throw new Error(parsed.message);
    const changes = await handlePlatformEvent(t.db, { boss, event: parsed.event, appUrl: 'http://localhost:3000' });
    expect(changes).toEqual([expect.objectContaining({ change: 'opened', integration: AUDIT_TRAIL, kind: 'audit_chain' })]);
    const [alert] = await t.db.select().from(alerts).where(eq(alerts.integration, AUDIT_TRAIL));
    expect(alert.title).toBe('Audit trail: verification failed');
    expect(String(alert.body.text)).toContain('Found: chain shorter than the last anchor');
    expect(alert.body.consoleUrl).toBe('http://localhost:3000/audit');
    const status = await auditChainStatus(t.db);
    expect(status.full).toMatchObject({ ok: false });
    expect(status.full?.findings[0]).toMatch(/^chain shorter than the last anchor/);
    const [incident] = await t.db.select().from(incidents).where(eq(incidents.integration, AUDIT_TRAIL));
    expect(incident).toMatchObject({ kind: 'audit_chain', closedAt: null });
  });
});

describe('audit checkpoint webhook', () => {
  it('POSTs each new anchor as an audit.checkpoint message signed with the audit key', async () => {
    const d = await freshDatabase();
    const hookDir = mkdtempSync(path.join(os.tmpdir(), 'junction-audit-hook-'));
    const receiver = await startTestServer();
    try {
      for (let i = 0; i < 3; i++) await appendAudit(d.db, { actor: 'ada@example.com', entries: [{ kind: 'action', fieldName: 'pause' }] });
      const { written } = await writeAuditAnchor(d.db, { dir: hookDir, key, webhookUrl: `${receiver.url}/audit-checkpoints` });
      expect(written).toHaveLength(1);
      expect(receiver.requests).toHaveLength(1);
      const [request] = receiver.requests;
      expect(request).toMatchObject({ method: 'POST', path: '/audit-checkpoints' });
      expect(JSON.parse(request.body)).toEqual({
        type: 'audit.checkpoint',
        seq: 1,
        at: written[0].at,
        rows: 3,
        lastId: written[0].lastId,
        head: written[0].head,
        anchorSignature: written[0].signature,
      });
      // The receiver (or an auditor) checks it with the audit key; the database never had it.
      expect(request.headers['x-junction-audit-signature']).toBe(`sha256=${createHmac('sha256', key).update(request.body).digest('hex')}`);
      expect(checkpointMessage(written[0], key).signature).toBe(request.headers['x-junction-audit-signature']);
      // Nothing new: no anchor, no message.
      expect(await writeAuditAnchor(d.db, { dir: hookDir, key, webhookUrl: `${receiver.url}/audit-checkpoints` })).toEqual({
        written: [],
        skipped: 'no new rows',
      });
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await receiver.close();
      await d.drop();
      rmSync(hookDir, { recursive: true, force: true });
    }
  });

  it('does not follow a redirect: it logs where the webhook pointed, and the anchor file is written', async () => {
    const d = await freshDatabase();
    const hookDir = mkdtempSync(path.join(os.tmpdir(), 'junction-audit-hook-'));
    const elsewhere = await startTestServer();
    // A moved receiver: a 302 would have turned the POST into a bodiless GET that answers 200, and a
    // 307 would have re-sent the audit heads to whatever the Location names.
    const receiver = await startTestServer();
    try {
      for (const status of [302, 307]) {
        receiver.setHandler((_req, res) => {
          res.writeHead(status, { location: `${elsewhere.url}/secret-token/checkpoints` });
          res.end();
        });
        await appendAudit(d.db, { actor: 'ada@example.com', entries: [{ kind: 'action', fieldName: 'pause' }] });
        const logs: string[] = [];
        const { written } = await writeAuditAnchor(d.db, {
          dir: hookDir,
          key,
          webhookUrl: `${receiver.url}/audit-checkpoints`,
          log: (m) => logs.push(m),
        });
        expect(written).toHaveLength(1);
        expect(logs).toEqual([
          `audit checkpoint #${written[0].seq} not sent: the webhook answered HTTP ${status}, a redirect to ${elsewhere.url}, which is not followed; set JUNCTION_AUDIT_ANCHOR_WEBHOOK_URL to the address that receives it. The anchor file is written`,
        ]);
        expect(readdirSync(hookDir)).toHaveLength(written[0].seq);
      }
      expect(receiver.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
      expect(elsewhere.requests).toEqual([]);
    } finally {
      await receiver.close();
      await elsewhere.close();
      await d.drop();
      rmSync(hookDir, { recursive: true, force: true });
    }
  });
});

/**
 * A fresh database and anchor directory with the worker's audit guard on them (every schedule an
 * hour apart unless `options` says otherwise), all removed after `body`.
 */
async function withGuard(
  label: string,
  options: Partial<AuditGuardOptions>,
  body: (g: { d: TestDatabase; dir: string; logs: string[] }) => Promise<void>,
): Promise<void> {
  const d = await freshDatabase();
  const guardDir = mkdtempSync(path.join(os.tmpdir(), `junction-audit-${label}-`));
  const logs: string[] = [];
  const guard = startAuditGuard({
    db: d.db,
    events: boss,
    dir: guardDir,
    key,
    anchorIntervalMs: 3_600_000,
    burstRows: 1_000,
    verifyIntervalMs: 3_600_000,
    log: (m) => logs.push(m),
    ...options,
  });
  try {
    await body({ d, dir: guardDir, logs });
  } finally {
    await guard.stop();
    await d.drop();
    rmSync(guardDir, { recursive: true, force: true });
  }
}

describe('audit guard (worker)', () => {
  it('anchors after a burst of writes without waiting for the schedule', async () => {
    await withGuard('burst', { burstRows: 5, burstCheckMs: 100 }, async ({ d, dir: guardDir, logs }) => {
      await expect.poll(() => logs.some((l) => l.startsWith('full verification passed')), { timeout: 10_000 }).toBe(true);
      expect(readdirSync(guardDir)).toEqual([]);
      for (let i = 0; i < 6; i++)
        await appendAudit(d.db, { actor: 'ada@example.com', entries: [{ kind: 'action', fieldName: 'run_now' }] });
      await expect.poll(() => readdirSync(guardDir), { timeout: 10_000 }).toEqual(['anchor-000000000001.json']);
      const [{ id }] = await d.db.$client<{ id: string }[]>`select max(id) as id from audit_log`;
      // The file is written inside the anchoring transaction, the log line after it commits.
      await expect.poll(() => logs, { timeout: 10_000 }).toContain(`anchor #1 written: 6 rows up to row ${id}`);
    });
  });

  it('shows a requested check as pending until a verification that started after it', async () => {
    const d = await freshDatabase();
    const guardDir = mkdtempSync(path.join(os.tmpdir(), 'junction-audit-pending-'));
    try {
      await runAuditVerification(d.db, { dir: guardDir, key, events: boss });
      const asked = await requestAuditCheck(d.db, { actor: 'root@example.com' });
      expect((await auditChainStatus(d.db)).checkRequested).toEqual({ at: asked.requestedAt, by: 'root@example.com' });
      // A verification that began before the request does not answer it.
      await d.db.$client`update audit_chain_state set full_checked_at = check_requested_at - interval '1 millisecond'`;
      expect((await auditChainStatus(d.db)).checkRequested).not.toBeNull();
      await runAuditVerification(d.db, { dir: guardDir, key, events: boss });
      expect((await auditChainStatus(d.db)).checkRequested).toBeNull();
    } finally {
      await d.drop();
      rmSync(guardDir, { recursive: true, force: true });
    }
  });

  it('says a check is running while a worker holds the verification lock, and since when', async () => {
    const d = await freshDatabase();
    let release = () => {};
    try {
      expect((await auditChainStatus(d.db)).checkRunning).toBeNull();
      const idle = fingerprint(await auditParts(d.db));
      const held = new Promise<void>((resolve) => (release = resolve));
      let started!: string;
      const holding = d.db.$client.begin(async (tx) => {
        const [{ at }] = await tx<{ at: string }[]>`select pg_advisory_xact_lock(${AUDIT_VERIFY_LOCK}), now() as at`;
        started = at;
        await held;
      });
      await expect.poll(async () => (await auditChainStatus(d.db)).checkRunning, { timeout: 10_000 }).not.toBeNull();
      // Since its transaction began (the time a verification records as its own), to the millisecond.
      const since = (await auditChainStatus(d.db)).checkRunning!.since!;
      expect(Math.abs(since.getTime() - new Date(started).getTime())).toBeLessThanOrEqual(1);
      // The page is live to it: its fingerprint changes when a check starts and again when it ends.
      const running = fingerprint(await auditParts(d.db));
      expect(running).not.toBe(idle);
      // A verification started meanwhile is skipped, not queued behind it.
      expect(
        await runAuditVerification(d.db, { dir: mkdtempSync(path.join(os.tmpdir(), 'junction-audit-running-')), key, events: boss }),
      ).toEqual({
        skipped: 'another process is verifying',
      });
      release();
      await holding;
      expect((await auditChainStatus(d.db)).checkRunning).toBeNull();
      expect(fingerprint(await auditParts(d.db))).toBe(idle);
    } finally {
      release();
      await d.drop();
    }
  });

  it('runs the full check when an admin asks for it (Check now), not at the next scheduled time', async () => {
    await withGuard('request', { requestCheckMs: 100 }, async ({ d, logs }) => {
      // The start-up check, then nothing for an hour.
      await expect.poll(() => logs.filter((l) => l.startsWith('full verification passed')).length, { timeout: 10_000 }).toBe(1);
      const first = (await auditChainStatus(d.db)).full!.at;
      expect((await auditChainStatus(d.db)).checkRequested).toBeNull();
      // A direct write the hourly check would find an hour from now.
      await d.db.$client`
        insert into integrations (name, description, timezone, retry_delays, breaker_key, breaker_failures, breaker_cooldown, settings, updated_by)
        values ('asked', 'Registered for this test', 'UTC', '["1m"]', 'asked', 3, '1m', '{}', 'system')`;
      await recordConfigBaselines(d.db, { registered: ['asked'] });
      await d.db.$client`update integrations set breaker_failures = 7 where name = 'asked'`;

      const asked = await requestAuditCheck(d.db, { actor: 'root@example.com' });
      expect(asked.alreadyPending).toBe(false);
      // Asked again before it ran: the same request, not a second one (nor a second audit row).
      const again = await requestAuditCheck(d.db, { actor: 'bob@example.com' });
      expect(again).toEqual({ requestedAt: asked.requestedAt, alreadyPending: true });

      await expect.poll(async () => (await auditChainStatus(d.db)).full?.ok, { timeout: 10_000 }).toBe(false);
      const status = await auditChainStatus(d.db);
      expect(status.checkRequested).toBeNull();
      expect(status.full!.at.getTime()).toBeGreaterThan(first.getTime());
      expect(status.full!.configDrift).toEqual([expect.stringMatching(/^asked: breakerFailures is 7/)]);
      expect(logs).toContain('full verification requested from the console');
      const rows = await d.db.$client<{ changed_by: string }[]>`select changed_by from audit_log where field_name = 'audit_check'`;
      expect(rows).toEqual([{ changed_by: 'root@example.com' }]);
      // Done: the next request is a new one.
      expect((await requestAuditCheck(d.db, { actor: 'bob@example.com' })).alreadyPending).toBe(false);
    });
  });
});

describe('configuration changed around the trail, then the trail itself', () => {
  it('files them as two incidents: tampering found while a drift incident is open still alerts', async () => {
    const t2 = await freshDatabase();
    const dir2 = mkdtempSync(path.join(os.tmpdir(), 'junction-audit-guard-drift-'));
    try {
      const verify = async () => {
        const result = await runAuditVerification(t2.db, { dir: dir2, key, events: boss });
        if ('skipped' in result) throw new Error('another verification was running');
        return result;
      };
      const events = async () => {
        const seen: Record<string, unknown>[] = [];
        for (let e = await nextEvent(); e; e = await nextEvent()) seen.push(e);
        return seen;
      };
      const handle = async (event: Record<string, unknown>) => {
        const parsed = parsePlatformEvent(event);
        if (!parsed.ok) throw new Error(parsed.message);
        return handlePlatformEvent(t2.db, { boss, event: parsed.event, appUrl: 'http://localhost:3000' });
      };
      await events();
      await t2.db.$client`
        insert into integrations (name, description, timezone, retry_delays, breaker_key, breaker_failures, breaker_cooldown, settings, updated_by)
        values ('drifty', 'Registered for this test', 'UTC', '["1m"]', 'drifty', 3, '1m', '{}', 'system')`;
      expect(await recordConfigBaselines(t2.db, { registered: ['drifty'] })).toEqual(['drifty']);
      await writeAuditAnchor(t2.db, { dir: dir2, key });
      expect(await verify()).toMatchObject({ ok: true });
      expect(await events()).toEqual([]);

      // Configuration changed in the database: its own incident, said as such.
      await t2.db.$client`update integrations set breaker_failures = 99 where name = 'drifty'`;
      expect(await verify()).toMatchObject({ ok: false });
      const [drift] = await events();
      expect(drift).toMatchObject({ type: 'audit.chain_broken', integration: AUDIT_CONFIG, configDriftOnly: true });
      expect(await handle(drift)).toEqual([expect.objectContaining({ change: 'opened', integration: AUDIT_CONFIG })]);

      // Then the trail itself is rewritten: before, this was counted on the open drift incident,
      // whose only alert said the trail was intact. Now it opens the trail's incident and alerts.
      const raw = t2.db.$client;
      await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
      await raw.unsafe(`update audit_log set changed_by = 'mallory' where id = (select min(id) from audit_log)`);
      await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
      expect(await verify()).toMatchObject({ ok: false });
      const both = await events();
      expect(both).toMatchObject([
        { type: 'audit.chain_broken', integration: AUDIT_TRAIL, configDriftOnly: false },
        { type: 'audit.chain_broken', integration: AUDIT_CONFIG, configDriftOnly: true },
      ]);
      expect(String(both[0].problem)).not.toContain('drifty');
      expect(await handle(both[0])).toEqual([expect.objectContaining({ change: 'opened', integration: AUDIT_TRAIL })]);
      expect(await handle(both[1])).toEqual([expect.objectContaining({ change: 'counted', integration: AUDIT_CONFIG })]);
      const sent = await t2.db.select().from(alerts);
      expect(sent.map((a) => a.title).sort()).toEqual([
        'Audit trail: configuration changed outside the console',
        'Audit trail: verification failed',
      ]);

      // Both put back: each incident is told it may close.
      await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
      await raw.unsafe(`update audit_log set changed_by = 'system' where id = (select min(id) from audit_log)`);
      await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
      await t2.db.$client`update integrations set breaker_failures = 3 where name = 'drifty'`;
      expect(await verify()).toMatchObject({ ok: true });
      expect(await events()).toMatchObject([
        { type: 'audit.chain_verified', integration: AUDIT_TRAIL },
        { type: 'audit.chain_verified', integration: AUDIT_CONFIG },
      ]);
    } finally {
      await t2.drop();
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});

describe('an audit incident that grows while it is open', () => {
  it('sends one update naming only the new findings, and nothing for the same findings again', async () => {
    const t3 = await freshDatabase();
    const dir3 = mkdtempSync(path.join(os.tmpdir(), 'junction-audit-guard-grows-'));
    try {
      const raw = t3.db.$client;
      const events = async () => {
        const seen: Record<string, unknown>[] = [];
        for (let e = await nextEvent(); e; e = await nextEvent()) seen.push(e);
        return seen;
      };
      /** One verification, its events handled as the worker does: the incident changes. */
      const verifyAndHandle = async () => {
        const result = await runAuditVerification(t3.db, { dir: dir3, key, events: boss });
        if ('skipped' in result) throw new Error('another verification was running');
        const changes = [];
        for (const event of await events()) {
          const parsed = parsePlatformEvent(event);
          if (!parsed.ok) throw new Error(parsed.message);
          changes.push(...(await handlePlatformEvent(t3.db, { boss, event: parsed.event, appUrl: 'http://localhost:3000' })));
        }
        return changes.map((c) => `${c.integration} ${c.change}`);
      };
      const alertsSent = () => t3.db.select().from(alerts).orderBy(alerts.createdAt);
      await events();
      await raw`
        insert into integrations (name, description, timezone, retry_delays, breaker_key, breaker_failures, breaker_cooldown, settings, updated_by)
        values ('drifty', 'Registered for this test', 'UTC', '["1m"]', 'drifty', 3, '1m', '{}', 'system')`;
      await recordConfigBaselines(t3.db, { registered: ['drifty'] });
      await writeAuditAnchor(t3.db, { dir: dir3, key });
      expect(await verifyAndHandle()).toEqual([]);

      // The first direct write opens the incident with one alert.
      await raw`update integrations set breaker_failures = 99 where name = 'drifty'`;
      expect(await verifyAndHandle()).toEqual([`${AUDIT_CONFIG} opened`]);
      const [opening] = await alertsSent();
      expect(opening.body.text).toContain('a later verification that finds more sends an update');
      // Found again by the next verification: counted, no alert.
      expect(await verifyAndHandle()).toEqual([`${AUDIT_CONFIG} counted`]);
      expect(await alertsSent()).toHaveLength(1);

      // A second direct write while the incident is open: news, one update naming only it.
      await raw`update integrations set timezone = 'Europe/Paris' where name = 'drifty'`;
      expect(await verifyAndHandle()).toEqual([`${AUDIT_CONFIG} updated`]);
      const update = (await alertsSent())[1];
      expect(update).toMatchObject({ event: 'updated', incidentId: opening.incidentId, integration: AUDIT_CONFIG });
      expect(update.title).toBe('Audit trail: more configuration changed outside the console');
      expect(update.body.event).toBe('incident.updated');
      expect(update.body.text).toMatch(/timezone is "Europe\/Paris"/);
      expect(update.body.text).not.toMatch(/breaker/i);
      expect(await verifyAndHandle()).toEqual([`${AUDIT_CONFIG} counted`]);

      // The same field written again with another value is another write nobody was told of.
      await raw`update integrations set breaker_failures = 50 where name = 'drifty'`;
      expect(await verifyAndHandle()).toEqual([`${AUDIT_CONFIG} updated`]);
      const again = (await alertsSent())[2];
      expect(again.body.text).toMatch(/breakerFailures is 50/);
      expect(again.body.text).not.toMatch(/timezone/);
      expect(await alertsSent()).toHaveLength(3);

      // Put back: the incident closes with its one recovery message.
      await raw`update integrations set breaker_failures = 3, timezone = 'UTC' where name = 'drifty'`;
      expect(await verifyAndHandle()).toEqual([`${AUDIT_CONFIG} closed`]);
      expect((await alertsSent()).map((a) => a.event)).toEqual(['opened', 'updated', 'updated', 'recovered']);

      // The trail: rows appended after tampering change the finding's counts, not what it is.
      for (let i = 0; i < 3; i++)
        await appendAudit(t3.db, { actor: 'ada@example.com', entries: [{ kind: 'action', fieldName: 'resume' }] });
      const anchored = (await writeAuditAnchor(t3.db, { dir: dir3, key })).written.at(-1)!.lastId;
      await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
      await raw.unsafe(`update audit_log set changed_by = 'mallory' where id = (select min(id) from audit_log)`);
      await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
      expect(await verifyAndHandle()).toEqual([`${AUDIT_TRAIL} opened`]);
      for (let i = 0; i < 3; i++) await appendAudit(t3.db, { actor: 'ada@example.com', entries: [{ kind: 'action', fieldName: 'pause' }] });
      expect(await verifyAndHandle()).toEqual([`${AUDIT_TRAIL} counted`]);
      // The anchored tail deleted too: more tampering, said as an update.
      await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
      await raw.unsafe(`delete from audit_log where id >= ${anchored}`);
      await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
      expect(await verifyAndHandle()).toEqual([`${AUDIT_TRAIL} updated`]);
      const tampering = (await alertsSent()).at(-1)!;
      expect(tampering.title).toBe('Audit trail: more tampering found');
      expect(tampering.body.text).toMatch(new RegExp(`chain shorter than the last anchor.*the tail \\(rows ${anchored}\\) was deleted`));
      expect(tampering.body.text).not.toContain('mallory');
      expect(await verifyAndHandle()).toEqual([`${AUDIT_TRAIL} counted`]);
    } finally {
      await t3.drop();
      rmSync(dir3, { recursive: true, force: true });
    }
  });
});

describe('newProblems', () => {
  const shorter = (lastId: number, rows: number) => ({
    kind: 'shorter' as const,
    lastId,
    anchorLastId: 40,
    missingRowIds: [38, 40],
    anchorSeq: 3,
    message: `chain shorter than the last anchor: it ends at row ${lastId} (${rows} rows)`,
  });
  it('knows a trail finding again when rows appended since change its message', () => {
    expect(newProblems([shorter(36, 18)], [shorter(30, 15)])).toEqual([]);
    expect(newProblems([{ ...shorter(36, 18), missingRowIds: [36, 38, 40] }], [shorter(30, 15)])).toHaveLength(1);
  });
  it('names at most NEW_PROBLEMS, the last saying how many more', () => {
    const drift = Array.from({ length: 45 }, (_, i) => ({
      kind: 'config_drift' as const,
      target: 'integration' as const,
      name: 'x',
      field: `f${i}`,
      message: `x: f${i} is ${i}`,
    }));
    const named = newProblems(drift, drift.slice(0, 5));
    expect(named).toHaveLength(NEW_PROBLEMS);
    expect(named[0]).toBe('x: f5 is 5');
    expect(named.at(-1)).toBe('and 21 more (the Audit page lists every finding)');
    expect(
      parsePlatformEvent({
        type: 'audit.chain_broken',
        integration: AUDIT_CONFIG,
        problem: 'p',
        newProblems: named,
        at: new Date().toISOString(),
      }).ok,
    ).toBe(true);
  });
});
