import { randomBytes } from 'node:crypto';
import { asc, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { startSendingBoss } from '../../../test/fixtures/platform';
import { openBreaker, resetBreaker } from '../resilience/breaker';
import { appendAudit, changesSince, changesSinceQuery, fieldHistory, latestChangeBefore, recordAction, verifyAuditChain } from './audit';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('audit trail', () => {
  it('chains every appended row to the previous one', async () => {
    await appendAudit(t.db, {
      actor: 'ada@example.com',
      correlationId: 'c-1',
      entries: [
        { kind: 'config', integration: 'x', fieldName: 'schedule', oldValue: '0 2 * * *', newValue: '0 3 * * *' },
        { kind: 'config', integration: 'x', fieldName: 'timezone', oldValue: 'UTC', newValue: 'Europe/Paris' },
      ],
    });
    await recordAction(t.db, { actor: 'op@example.com', integration: 'x', action: 'pause' });
    const rows = await t.db.select().from(auditLog).orderBy(asc(auditLog.id));
    expect(rows).toHaveLength(3);
    expect(rows[0].prevHash).toBe('genesis');
    expect(rows[1].prevHash).toBe(rows[0].hash);
    expect(rows[2].prevHash).toBe(rows[1].hash);
    expect(rows[2]).toMatchObject({ kind: 'action', fieldName: 'pause', changedBy: 'op@example.com' });
    expect(await verifyAuditChain(t.db)).toEqual({ ok: true, rows: 3, head: rows[2].hash, headId: rows[2].id });
  });

  it('rejects UPDATE, DELETE and TRUNCATE with a message saying the table is append-only', async () => {
    const raw = t.db.$client;
    await expect(raw.unsafe(`update audit_log set changed_by = 'mallory'`)).rejects.toThrow(/audit_log is append-only: UPDATE/);
    await expect(raw.unsafe('delete from audit_log')).rejects.toThrow(/audit_log is append-only: DELETE/);
    await expect(raw.unsafe('truncate audit_log')).rejects.toThrow(/audit_log is append-only: TRUNCATE/);
    const [{ n }] = await raw<{ n: number }[]>`select count(*)::int as n from audit_log`;
    expect(n).toBe(3);
  });

  it('rejects them for the application’s own database user too, even with every privilege on the table', async () => {
    const role = `junction_app_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    const raw = t.db.$client;
    await raw.unsafe(`create role ${role} login nosuperuser password '${password}'`);
    await raw.unsafe(`grant all privileges on audit_log to ${role}`);
    await raw.unsafe(`grant usage, select, update on sequence audit_log_id_seq to ${role}`);
    const url = new URL(t.url);
    url.username = role;
    url.password = password;
    const app = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      const [{ superuser }] = await app<{ superuser: boolean }[]>`select rolsuper as superuser from pg_roles where rolname = current_user`;
      expect(superuser).toBe(false);
      await app`insert into audit_log (changed_by, kind, field_name, correlation_id) values ('app', 'action', 'run_now', 'c-app')`;
      await expect(app`update audit_log set changed_by = 'mallory'`).rejects.toThrow(/audit_log is append-only: UPDATE is not allowed/);
      await expect(app`delete from audit_log where changed_by = 'app'`).rejects.toThrow(/audit_log is append-only: DELETE is not allowed/);
      await expect(app`truncate audit_log`).rejects.toThrow(/audit_log is append-only: TRUNCATE is not allowed/);
    } finally {
      await app.end();
      await raw.unsafe(`drop owned by ${role}`);
      await raw.unsafe(`drop role ${role}`);
    }
    expect(await verifyAuditChain(t.db)).toMatchObject({ ok: true, rows: 4 });
  });
});

describe('verifyAuditChain recomputes hashes in Node', () => {
  it('recomputes in Node the hash the database wrote, for every kind of value, page by page', async () => {
    const d = await freshDatabase();
    try {
      await appendAudit(d.db, {
        actor: 'zoë <z@example.com>',
        entries: [
          { kind: 'config', integration: 'crm', fieldName: 'settings.note', oldValue: undefined, newValue: '日本語 🎉 "quoted" \\ \n' },
          { kind: 'action', fieldName: 'pause', newValue: { b: [1, 2.5, null, true], a: { z: 'x', aa: -0.001 } } },
          { kind: 'user', fieldName: 'user.z@example.com.role', oldValue: 'viewer', newValue: 'admin' },
          { kind: 'config', integration: 'crm', fieldName: 'retryBudget', oldValue: 1e-7, newValue: 123456789012345 },
        ],
      });
      await recordAction(d.db, { actor: 'ada@example.com', action: 'run_now' });
      const rows = await d.db.select().from(auditLog).orderBy(asc(auditLog.id));
      const expected = { ok: true, rows: 5, head: rows[4].hash, headId: rows[4].id };
      expect(await verifyAuditChain(d.db)).toEqual(expected);
      expect(await verifyAuditChain(d.db, { batch: 2 })).toEqual(expected);
      // The rows' hashes were written by the database's audit_row_hash(): the same, recomputed there.
      const [sqlCheck] = await d.db.execute<{ all_match: boolean }>(
        sql`select bool_and(hash = audit_row_hash(prev_hash, a)) as all_match from audit_log a`,
      );
      expect(sqlCheck.all_match).toBe(true);

      const raw = d.db.$client;
      await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
      await raw.unsafe(`update audit_log set new_value = '"admin "'::jsonb where id = ${rows[2].id}`);
      await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
      expect(await verifyAuditChain(d.db, { batch: 2 })).toEqual({
        ok: false,
        rows: 5,
        brokenAt: { id: rows[2].id, reason: `audit row ${rows[2].id} does not match its hash: it was changed after it was written` },
      });
    } finally {
      await d.drop();
    }
  });
});

describe('verifyAuditChain after tampering', () => {
  let d: TestDatabase;
  beforeAll(async () => {
    d = await freshDatabase();
    for (let i = 1; i <= 5; i++) {
      await appendAudit(d.db, {
        actor: 'ada@example.com',
        entries: [{ kind: 'config', integration: 'x', fieldName: `f${i}`, oldValue: i - 1, newValue: i }],
      });
    }
  });
  afterAll(() => d.drop());

  it('verifies only the rows after a checkpoint when given one', async () => {
    const full = await verifyAuditChain(d.db);
    expect(full).toMatchObject({ ok: true, rows: 5 });
    const rows = await d.db.select().from(auditLog).orderBy(asc(auditLog.id));
    const checkpoint = { id: rows[2].id, hash: rows[2].hash };
    expect(await verifyAuditChain(d.db, { after: checkpoint })).toEqual({ ok: true, rows: 2, head: rows[4].hash, headId: rows[4].id });
    expect(await verifyAuditChain(d.db, { after: { id: rows[4].id, hash: rows[4].hash } })).toEqual({
      ok: true,
      rows: 0,
      head: rows[4].hash,
      headId: rows[4].id,
    });
    // A checkpoint that is not the real hash of that row is caught at the next row.
    expect(await verifyAuditChain(d.db, { after: { id: rows[2].id, hash: 'forged' } })).toMatchObject({
      ok: false,
      brokenAt: { id: rows[3].id },
    });
  });

  it('names the row a superuser edited with the trigger disabled', async () => {
    const ids = (await d.db.select({ id: auditLog.id }).from(auditLog).orderBy(asc(auditLog.id))).map((r) => r.id);
    const raw = d.db.$client;
    await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
    await raw.unsafe(`update audit_log set new_value = '999'::jsonb where id = ${ids[2]}`);
    await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
    await expect(raw.unsafe('update audit_log set new_value = null')).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(d.db)).toEqual({
      ok: false,
      rows: 5,
      brokenAt: { id: ids[2], reason: `audit row ${ids[2]} does not match its hash: it was changed after it was written` },
    });
  });

  it('names the row after one a superuser deleted', async () => {
    const ids = (await d.db.select({ id: auditLog.id }).from(auditLog).orderBy(asc(auditLog.id))).map((r) => r.id);
    const raw = d.db.$client;
    await raw.unsafe('alter table audit_log disable trigger audit_log_no_update');
    // Put row 3 back as it was (rehash is not needed: its hash was never changed), then delete row 2.
    await raw.unsafe(`update audit_log set new_value = '3'::jsonb where id = ${ids[2]}`);
    await raw.unsafe(`delete from audit_log where id = ${ids[1]}`);
    await raw.unsafe('alter table audit_log enable trigger audit_log_no_update');
    expect(await verifyAuditChain(d.db)).toEqual({
      ok: false,
      rows: 4,
      brokenAt: {
        id: ids[2],
        reason: `audit row ${ids[2]} does not link to the row before it: a row before it was deleted, or this one was inserted outside the chain`,
      },
    });
  });
});

describe('audit queries', () => {
  let q: TestDatabase;
  let start: Date;
  beforeAll(async () => {
    q = await freshDatabase();
    start = new Date(Date.now() - 1000);
    // One transaction per append: several rows share one changed_at (transaction time).
    await appendAudit(q.db, {
      actor: 'ada@example.com',
      entries: [
        { kind: 'config', integration: 'crm', fieldName: 'schedule', oldValue: null, newValue: '0 2 * * *' },
        { kind: 'config', integration: 'crm', fieldName: 'settings.baseUrl', oldValue: 'http://a', newValue: 'http://b' },
        { kind: 'config', integration: 'crm', fieldName: 'settings.batchSize', oldValue: 10, newValue: 20 },
      ],
    });
    await recordAction(q.db, { actor: 'op@example.com', integration: 'erp', action: 'run_now' });
    await appendAudit(q.db, {
      actor: 'bob@example.com',
      entries: [
        { kind: 'config', integration: 'erp', fieldName: 'timezone', oldValue: 'UTC', newValue: 'Europe/Paris' },
        { kind: 'config', integration: 'crm', fieldName: 'settings.baseUrl', oldValue: 'http://b', newValue: 'http://c' },
        { kind: 'config', integration: 'crm', fieldName: 'secret.clientSecret', oldValue: { set: true }, newValue: { replaced: true } },
      ],
    });
  });
  afterAll(() => q.drop());

  it('lists what changed since a time, newest first, filtered by integration, actor and kind', async () => {
    const all = await changesSince(q.db, { since: start });
    expect(all).toHaveLength(7);
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort((a, b) => b - a));
    expect((await changesSince(q.db, { since: start, integration: 'erp' })).map((r) => r.fieldName)).toEqual(['timezone', 'run_now']);
    expect((await changesSince(q.db, { since: start, actor: 'op@example.com' })).map((r) => r.fieldName)).toEqual(['run_now']);
    // Any part of the address, in any case (before: only the exact address, case included).
    for (const actor of ['OP@Example.com', 'op@', 'op'])
      expect(
        (await changesSince(q.db, { since: start, actor })).map((r) => r.fieldName),
        actor,
      ).toContain('run_now');
    // LIKE's wildcards are the characters themselves.
    expect(await changesSince(q.db, { since: start, actor: '%' })).toEqual([]);
    expect(await changesSince(q.db, { since: start, actor: 'o_@' })).toEqual([]);
    expect(await changesSince(q.db, { since: start, kind: 'action' })).toHaveLength(1);
    expect(await changesSince(q.db, { since: new Date(Date.now() + 60_000) })).toEqual([]);
  });

  it('pages by key through rows that share a timestamp without skipping or repeating any', async () => {
    const all = await changesSince(q.db, { since: start });
    const seen: number[] = [];
    let before: { changedAt: Date; id: number } | undefined;
    for (;;) {
      const page = await changesSince(q.db, { since: start, limit: 2, before });
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.id));
      const last = page[page.length - 1];
      before = { changedAt: last.changedAt, id: last.id };
    }
    expect(seen).toEqual(all.map((r) => r.id));
  });

  it('finds the newest change before a time, of every integration or one: where a list that ended inside its window goes on', async () => {
    const all = await changesSince(q.db, { since: start });
    const [newest, ...older] = all;
    // Before the newest transaction's time: the newest row of an earlier transaction.
    const earlier = older.find((r) => r.changedAt < newest.changedAt)!;
    expect(await latestChangeBefore(q.db, { until: newest.changedAt })).toEqual(earlier.changedAt);
    expect(await latestChangeBefore(q.db, { until: new Date(Date.now() + 60_000) })).toEqual(newest.changedAt);
    // One integration: its own rows only ('erp' changed once before the last transaction, 'crm' too).
    const erp = all.filter((r) => r.integration === 'erp' && r.changedAt < newest.changedAt)[0];
    expect(await latestChangeBefore(q.db, { until: newest.changedAt, integration: 'erp' })).toEqual(erp.changedAt);
    // The time is exclusive, and nothing before the first row.
    expect(await latestChangeBefore(q.db, { until: all[all.length - 1].changedAt })).toBeNull();
    expect(await latestChangeBefore(q.db, { until: start })).toBeNull();
    expect(await latestChangeBefore(q.db, { until: newest.changedAt, integration: 'nobody' })).toBeNull();
  });

  it('is one SELECT served by the changed_at or integration index', async () => {
    // Older history, so the planner sees a table worth an index (the rows above stay the newest).
    await q.db.$client.unsafe(`
      insert into audit_log (changed_at, changed_by, kind, integration, field_name, correlation_id)
      select now() - interval '30 days' - (i * interval '1 minute'), 'seed', 'config', 'int-' || (i % 50), 'schedule', 'seed-' || i
      from generate_series(1, 5000) i`);
    await q.db.$client.unsafe('analyze audit_log');
    const plans: string[] = [];
    for (const params of [{ since: start }, { since: start, integration: 'crm' }]) {
      const query = changesSinceQuery(q.db, { ...params, before: { changedAt: new Date(), id: 1_000_000 } }).toSQL();
      const rows = await q.db.$client.unsafe(`explain ${query.sql}`, query.params as never[]);
      plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
    expect(plans[0]).toMatch(/Index Scan using audit_changed_at_idx/);
    // Read in index order: no scan of the table, no sort.
    expect(plans[0]).not.toMatch(/Seq Scan|Sort/);
    // One integration: its index range in order, merged (not sorted) with the breaker actions on
    // its breaker key, which are few (a sort of those alone, under their own limit).
    expect(plans[1]).toMatch(/^Limit.*\n\s+->\s+Merge Append/);
    expect(plans[1]).toMatch(
      /Index Scan using audit_integration_changed_at_idx on audit_log .*\n\s+Index Cond: \(\(integration = 'crm'::text\)/,
    );
    expect(plans[1]).not.toMatch(/Seq Scan/);
    for (const plan of plans) {
      // The keyset condition is part of the index condition, not a filter over scanned rows.
      expect(plan).toMatch(/Index Cond: .*ROW\(changed_at, id\) </);
    }
    expect(await changesSince(q.db, { since: start })).toHaveLength(7);
  });

  it("lists the Open and Reset of an integration's breaker with its changes, in time order, paged", async () => {
    const d = await freshDatabase();
    // A reset wakes the runs the breaker deferred: it needs pg-boss's tables.
    const boss = await startSendingBoss(d.url);
    try {
      await d.db.insert(integrations).values([
        { name: 'ledger-export', breakerKey: 'ledger' },
        { name: 'ledger-import', breakerKey: 'ledger' },
        { name: 'crm-sync', breakerKey: 'crm-sync' },
      ]);
      const since = new Date(Date.now() - 1000);
      await recordAction(d.db, { actor: 'op@example.com', integration: 'ledger-export', action: 'pause' });
      await openBreaker(d.db, { key: 'ledger', by: 'oscar@example.com' });
      await recordAction(d.db, { actor: 'op@example.com', integration: 'crm-sync', action: 'run_now' });
      await resetBreaker(d.db, { key: 'ledger', by: 'ada@example.com' });
      await openBreaker(d.db, { key: 'crm-sync', by: 'oscar@example.com' });
      await recordAction(d.db, { actor: 'op@example.com', integration: 'ledger-export', action: 'resume' });

      const names = (rows: { fieldName: string; changedBy: string }[]) => rows.map((r) => `${r.fieldName} ${r.changedBy}`);
      const ledger = await changesSince(d.db, { since, integration: 'ledger-export' });
      expect(names(ledger)).toEqual([
        'resume op@example.com',
        'breaker_reset ada@example.com',
        'breaker_open oscar@example.com',
        'pause op@example.com',
      ]);
      // The other integration sharing the breaker sees its actions too; one with another breaker does not.
      expect(names(await changesSince(d.db, { since, integration: 'ledger-import' }))).toEqual([
        'breaker_reset ada@example.com',
        'breaker_open oscar@example.com',
      ]);
      expect(names(await changesSince(d.db, { since, integration: 'crm-sync' }))).toEqual([
        'breaker_open oscar@example.com',
        'run_now op@example.com',
      ]);
      expect(await changesSince(d.db, { since, integration: 'no-such-integration' })).toEqual([]);
      // Filters apply to both parts; paging by key goes through both without repeating any row.
      expect(names(await changesSince(d.db, { since, integration: 'ledger-export', actor: 'oscar@example.com' }))).toEqual([
        'breaker_open oscar@example.com',
      ]);
      const paged: string[] = [];
      let before: { changedAt: Date; id: number } | undefined;
      for (;;) {
        const page = await changesSince(d.db, { since, integration: 'ledger-export', limit: 1, before });
        if (page.length === 0) break;
        paged.push(...names(page));
        before = { changedAt: page[0].changedAt, id: page[0].id };
      }
      expect(paged).toEqual(names(ledger));
    } finally {
      await boss.stop({ graceful: false });
      await d.drop();
    }
  });

  it('gives the history of one field, or of a group with .*', async () => {
    const baseUrl = await fieldHistory(q.db, { integration: 'crm', fieldName: 'settings.baseUrl' });
    expect(baseUrl.map((r) => r.newValue)).toEqual(['http://c', 'http://b']);
    const settings = await fieldHistory(q.db, { integration: 'crm', fieldName: 'settings.*' });
    expect(settings.map((r) => r.fieldName).sort()).toEqual(['settings.baseUrl', 'settings.baseUrl', 'settings.batchSize']);
    expect(await fieldHistory(q.db, { integration: 'erp', fieldName: 'settings.*' })).toEqual([]);
  });
});
