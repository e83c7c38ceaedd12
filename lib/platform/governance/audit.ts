import { createHash, randomUUID } from 'node:crypto';
import { and, eq, gte, ilike, inArray, isNull, like, lt, or, sql, type SQL } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { auditLog, type AuditRow } from '../../../db/schema';

export type { AuditRow };

/**
 * The audit trail. Rows are only ever inserted: the database chains each row to the previous one
 * with a SHA-256 hash and rejects UPDATE, DELETE and TRUNCATE (db/migrations/0001_audit_append_only.sql).
 */

export type AuditKind = 'config' | 'action' | 'user';

export interface AuditEntry {
  kind: AuditKind;
  integration?: string | null;
  /** The changed field for 'config', the action name ('run_now', 'pause', ...) for 'action'. */
  fieldName: string;
  oldValue?: unknown;
  newValue?: unknown;
}

export interface AppendAuditParams {
  actor: string;
  correlationId?: string;
  entries: AuditEntry[];
  /** When it happened, for history written after the fact (the demo seed's); default now. */
  changedAt?: Date;
}

/** Appends entries in the caller's transaction, so a change and its audit rows commit together. */
export async function appendAudit(db: DatabaseOrTransaction, params: AppendAuditParams): Promise<void> {
  if (params.entries.length === 0) return;
  const correlationId = params.correlationId ?? randomUUID();
  await db.insert(auditLog).values(
    params.entries.map((e) => ({
      ...(params.changedAt ? { changedAt: params.changedAt } : {}),
      changedBy: params.actor,
      kind: e.kind,
      integration: e.integration ?? null,
      fieldName: e.fieldName,
      oldValue: e.oldValue ?? null,
      newValue: e.newValue ?? null,
      correlationId,
    })),
  );
}

export interface RecordActionParams {
  actor: string;
  integration?: string | null;
  /** 'run_now' | 'dry_run' | 'retry' | 'bulk_retry' | 'cancel' | 'pause' | 'resume' | 'breaker_reset' | 'breaker_open' | ... */
  action: string;
  details?: Record<string, unknown>;
  correlationId?: string;
}

/** Records an operator action (who did what to which integration) in the same trail as config. */
export async function recordAction(db: DatabaseOrTransaction, params: RecordActionParams): Promise<void> {
  await appendAudit(db, {
    actor: params.actor,
    correlationId: params.correlationId,
    entries: [{ kind: 'action', integration: params.integration, fieldName: params.action, newValue: params.details ?? null }],
  });
}

// ---------------------------------------------------------------------------------------------
// Verification and queries
// ---------------------------------------------------------------------------------------------

export type AuditChainResult =
  | {
      ok: true;
      /** Rows checked. */
      rows: number;
      /** Hash of the last row: record it elsewhere to also detect a rewritten tail. */
      head: string | null;
      /** Id of the last row checked (the checkpoint's id when there were none). */
      headId: number;
    }
  | { ok: false; rows: number; brokenAt: { id: number; reason: string } };

/**
 * Recomputes every row's hash and checks each row links to the one before it, paging through the
 * table by id (`batch` rows a round trip). Reports the first row where the chain breaks: a row
 * edited with the trigger disabled (its content no longer matches its hash) or a row deleted or
 * inserted outside the chain (the link to the previous row is wrong). The hashes are recomputed
 * here, in Node, from the row's stored columns (read with built-in functions and casts only),
 * never with the database's audit_row_hash(): the table's owner owns that function, and a copy of
 * it that answers every stored row with the row's own hash would make each recomputation in the
 * database agree, so a row could be edited without touching a single hash, the anchors included.
 * Limits: a deleted last row, or a superuser who rewrites every later hash, only shows against a
 * head recorded elsewhere, which is what `head` is for.
 */
export async function verifyAuditChain(
  db: DatabaseOrTransaction,
  params: {
    /**
     * Verify only the rows after a checkpoint (the id and head of an earlier ok result); rows up to
     * the checkpoint are then not re-checked.
     */
    after?: { id: number; hash: string };
    batch?: number;
  } = {},
): Promise<AuditChainResult> {
  const batch = Math.max(1, Math.trunc(params.batch ?? 5000));
  let afterId = params.after?.id ?? 0;
  let prev = params.after?.hash ?? 'genesis';
  let rows = 0;
  let broken: { id: number; reason: string } | undefined;
  for (;;) {
    // Everything qualified with pg_catalog: a function of the same name in another schema on the
    // search path is no more than audit_row_hash() is.
    const page = await db.execute<{
      id: string | number;
      prev_hash: string;
      hash: string;
      at: string;
      changed_by: string;
      kind: string;
      integration: string | null;
      field_name: string;
      old_value: string | null;
      new_value: string | null;
      correlation_id: string;
    }>(sql`
      select a.id, a.prev_hash, a.hash,
             pg_catalog.to_char(pg_catalog.timezone('UTC', a.changed_at), 'YYYY-MM-DD"T"HH24:MI:SS.US') as at,
             a.changed_by, a.kind, a.integration, a.field_name,
             a.old_value::pg_catalog.text as old_value, a.new_value::pg_catalog.text as new_value, a.correlation_id
        from audit_log a
       where a.id > ${afterId}
       order by a.id
       limit ${batch}`);
    for (const r of page) {
      const id = Number(r.id);
      rows++;
      // The same parts, in the same order, as audit_row_hash() in db/migrations/0001.
      // Over the row's own prev_hash, as the database does: a content break and a link break are told apart.
      const content = [
        r.prev_hash,
        String(id),
        r.at,
        r.changed_by,
        r.kind,
        r.integration ?? '',
        r.field_name,
        r.old_value ?? 'null',
        r.new_value ?? 'null',
        r.correlation_id,
      ];
      const expected = createHash('sha256').update(content.join('\x1f'), 'utf8').digest('hex');
      // The first break is reported; the rest are still counted, as the table's size is part of the answer.
      if (!broken && r.hash !== expected) broken = { id, reason: chainBreakReason(id, 'content') };
      if (!broken && r.prev_hash !== prev) broken = { id, reason: chainBreakReason(id, 'link') };
      prev = r.hash;
      afterId = id;
    }
    if (page.length < batch) break;
  }
  if (broken) return { ok: false, rows, brokenAt: broken };
  return { ok: true, rows, head: rows > 0 ? prev : (params.after?.hash ?? null), headId: afterId };
}

function chainBreakReason(id: number, reason: 'content' | 'link'): string {
  return reason === 'content'
    ? `audit row ${id} does not match its hash: it was changed after it was written`
    : `audit row ${id} does not link to the row before it: a row before it was deleted, or this one was inserted outside the chain`;
}

export interface AuditChainStatus {
  /** False when the rows since the verified position, or the last full verification, failed. */
  ok: boolean;
  /** Rows verified in all (the verified position plus the rows checked now). */
  rows: number;
  /** Rows checked on this call (the ones after the verified position). */
  checkedNow: number;
  /** What is wrong, when something is (the trail's problems and the configuration changed around it). */
  problem: string | null;
  /** What is wrong with the trail itself (rows changed, deleted, a bad anchor), when something is. */
  trailProblem: string | null;
  /**
   * The last full verification against the anchors (scheduled job), when there was one. `findings`
   * names everything it found; `configDrift` those of them that are configuration changed outside
   * the config service (the trail is intact, the configuration in force is not the audited one).
   */
  full: { at: Date; ok: boolean; findings: string[]; configDrift: string[] } | null;
  /** The newest anchor the last full verification trusted, or the newest one written. */
  anchor: { seq: number; at: Date; lastId: number } | null;
  /** A full verification an admin asked for that no worker has run yet (requestAuditCheck). */
  checkRequested: { at: Date; by: string } | null;
  /** A full verification running now (a worker holds AUDIT_VERIFY_LOCK), since when if the database says. */
  checkRunning: { since: Date | null } | null;
}

/** pg_try_advisory_xact_lock key: one full verification at a time across workers (audit-guard.ts). */
export const AUDIT_VERIFY_LOCK = 727277;

/**
 * Whether a worker holds AUDIT_VERIFY_LOCK in this database, and since when its transaction runs
 * (null when pg_stat_activity hides it from this role). A one-argument advisory lock on a bigint
 * shows in pg_locks as classid (high half) and objid (low half), objsubid 1.
 */
export const CHECK_RUNNING = sql`
  (select coalesce(a.xact_start, '-infinity')
     from pg_locks l left join pg_stat_activity a on a.pid = l.pid
    where l.locktype = 'advisory' and l.granted and l.classid = 0 and l.objid = ${AUDIT_VERIFY_LOCK} and l.objsubid = 1
      and l.database = (select oid from pg_database where datname = current_database())
    limit 1)`;

/**
 * The Audit page's chain status, incremental: the rows after the last verified position (stored
 * in audit_chain_state) are checked and the position moves to the head, so a page view costs the
 * rows written since the last view, not the whole table. The rows are checked by verifyAuditChain
 * from the position, hashed in Node: not with audit_row_hash(), which the table's owner could
 * replace by one that answers an edited row with its stored hash. Rows before the position are the
 * full verification's job (lib/platform/governance/audit-guard.ts, against the signed anchors):
 * its last outcome is part of the status.
 */
export async function auditChainStatus(db: DatabaseOrTransaction): Promise<AuditChainStatus> {
  const [row] = await db.execute<{
    verified_id: string | number;
    verified_hash: string;
    verified_rows: string | number;
    still_there: boolean;
    full_checked_at: Date | string | null;
    full_ok: boolean | null;
    full_findings: { kind?: string; message?: string }[];
    anchor_seq: number | null;
    anchor_at: Date | string | null;
    anchor_last_id: string | number | null;
    check_requested_at: Date | string | null;
    check_requested_by: string | null;
    running_since: Date | string | null;
  }>(sql`
    select st.verified_id, st.verified_hash, st.verified_rows, st.full_checked_at, st.full_ok, st.full_findings,
           st.anchor_seq, st.anchor_at, st.anchor_last_id,
           case when st.check_requested_at > coalesce(st.full_checked_at, '-infinity') then st.check_requested_at end as check_requested_at,
           st.check_requested_by, ${CHECK_RUNNING}::text as running_since,
           (st.verified_id = 0 or exists (select 1 from audit_log x where x.id = st.verified_id and x.hash = st.verified_hash)) as still_there
      from audit_chain_state st where st.id = 1`);
  // The row is created by migration 0008; put it back if someone removed it (the check restarts from the genesis).
  if (!row) await db.execute(sql`insert into audit_chain_state (id) values (1) on conflict do nothing`);
  const verifiedId = Number(row?.verified_id ?? 0);
  const verifiedHash = row?.verified_hash ?? 'genesis';
  const verifiedRows = Number(row?.verified_rows ?? 0);
  const trailFindings = (row?.full_findings ?? []).filter((f) => f.kind !== 'config_drift').map((f) => String(f.message ?? ''));
  const full = row?.full_checked_at
    ? {
        at: new Date(row.full_checked_at),
        ok: row.full_ok === true,
        findings: (row.full_findings ?? []).map((f) => String(f.message ?? '')),
        configDrift: (row.full_findings ?? []).filter((f) => f.kind === 'config_drift').map((f) => String(f.message ?? '')),
      }
    : null;
  const anchor =
    row?.anchor_seq != null && row.anchor_at
      ? { seq: row.anchor_seq, at: new Date(row.anchor_at), lastId: Number(row.anchor_last_id) }
      : null;
  const checkRequested = row?.check_requested_at ? { at: new Date(row.check_requested_at), by: row.check_requested_by ?? 'someone' } : null;
  const since = row?.running_since;
  const checkRunning = since == null ? null : { since: since === '-infinity' ? null : new Date(since) };
  if (row && !row.still_there) {
    const problem = `audit row ${verifiedId}, verified earlier, is gone or no longer has the hash it had: the trail was changed in the database`;
    return { ok: false, rows: verifiedRows, checkedNow: 0, problem, trailProblem: problem, full, anchor, checkRequested, checkRunning };
  }
  const chain = await verifyAuditChain(db, { after: { id: verifiedId, hash: verifiedHash } });
  const checkedNow = chain.rows;
  if (!chain.ok) {
    const problem = chain.brokenAt.reason;
    return {
      ok: false,
      rows: verifiedRows + checkedNow,
      checkedNow,
      problem,
      trailProblem: problem,
      full,
      anchor,
      checkRequested,
      checkRunning,
    };
  }
  // Only forward: a concurrent view that got further keeps its position.
  if (row && checkedNow > 0) {
    await db.execute(sql`
      update audit_chain_state
         set verified_id = ${chain.headId}, verified_hash = ${chain.head}, verified_rows = ${verifiedRows + checkedNow}, verified_at = now()
       where id = 1 and verified_id = ${verifiedId}`);
  }
  const fullProblem = full && !full.ok ? full.findings.join('; ') || 'the last full verification failed' : null;
  // A failed verification that found no configuration drift failed on the trail, named or not.
  const trailProblem =
    full && !full.ok && (trailFindings.length > 0 || full.configDrift.length === 0)
      ? trailFindings.join('; ') || 'the last full verification failed'
      : null;
  return {
    ok: !fullProblem,
    rows: verifiedRows + checkedNow,
    checkedNow,
    problem: fullProblem,
    trailProblem,
    full,
    anchor,
    checkRequested,
    checkRunning,
  };
}

/**
 * An admin asks for the full verification now (the Audit page's "Check now") instead of at its
 * next scheduled time: after putting drifted configuration back, say. The worker running the
 * audit guard picks the request up within a few seconds (audit-guard.ts); the request is an
 * audited action. A request made while one is pending is the same request: its time is kept.
 */
export async function requestAuditCheck(
  db: DatabaseOrTransaction,
  params: { actor: string; correlationId?: string },
): Promise<{ requestedAt: Date; alreadyPending: boolean }> {
  return db.transaction(async (tx) => {
    const request = await markAuditCheckRequested(tx, params);
    if (!request.alreadyPending)
      await recordAction(tx, { actor: params.actor, action: 'audit_check', correlationId: params.correlationId });
    return request;
  });
}

/** The request of requestAuditCheck without its audit row, for a change that asks for the check itself (keepDriftedConfig). */
export async function markAuditCheckRequested(
  db: DatabaseOrTransaction,
  params: { actor: string },
): Promise<{ requestedAt: Date; alreadyPending: boolean }> {
  await db.execute(sql`insert into audit_chain_state (id) values (1) on conflict do nothing`);
  const [row] = await db.execute<{ requested_at: Date | string; pending_before: boolean }>(sql`
    update audit_chain_state st
       set check_requested_at = case when old.pending then old.check_requested_at else now() end,
           check_requested_by = case when old.pending then old.check_requested_by else ${params.actor} end
      from (select check_requested_at, check_requested_by,
                   coalesce(check_requested_at > coalesce(full_checked_at, '-infinity'), false) as pending
              from audit_chain_state where id = 1 for update) old
     where st.id = 1
    returning st.check_requested_at as requested_at, old.pending as pending_before`);
  return { requestedAt: new Date(row.requested_at), alreadyPending: row.pending_before };
}

/**
 * The audit indexes are `changed_at DESC NULLS LAST, id DESC NULLS LAST`; a plain `DESC` means
 * NULLS FIRST, which PostgreSQL does not match to them (NOT NULL columns notwithstanding) and
 * answers with a scan and a sort: 37 ms instead of 0.1 ms for 100 of 100 000 rows.
 */
const NEWEST_FIRST = [sql`${auditLog.changedAt} desc nulls last`, sql`${auditLog.id} desc nulls last`];

export interface ChangesSinceParams {
  since: Date;
  /** Only changes before this time (exclusive). */
  until?: Date;
  integration?: string;
  actor?: string;
  kind?: AuditKind | string;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Keyset cursor: the last row of the previous page. */
  before?: { changedAt: Date; id: number };
}

/**
 * "What changed since T" (all integrations or one, optionally by actor and kind), newest first,
 * as one SELECT on the (changed_at, id) or (integration, changed_at, id) index with keyset paging.
 * One integration's changes include the Open and Reset of the breaker it uses: those rows name the
 * breaker (several integrations may share it), not an integration.
 */
export async function changesSince(db: DatabaseOrTransaction, params: ChangesSinceParams): Promise<AuditRow[]> {
  return changesSinceQuery(db, params);
}

/**
 * When the newest change before `until` was made (all integrations or one), or null when there is
 * none: where the Audit page points a list that ended inside its time window. One row from the
 * time indexes, like the list's first.
 */
export async function latestChangeBefore(db: DatabaseOrTransaction, params: { until: Date; integration?: string }): Promise<Date | null> {
  const [row] = await changesSinceQuery(db, { since: new Date(0), until: params.until, integration: params.integration, limit: 1 });
  return row?.changedAt ?? null;
}

/** Operator actions recorded on a breaker key, not on an integration (resilience/breaker.ts). */
const BREAKER_ACTIONS = ['breaker_open', 'breaker_reset'];

/** The query behind changesSince, unexecuted (`.toSQL()` for EXPLAIN in tests and benchmarks). */
export function changesSinceQuery(db: DatabaseOrTransaction, params: ChangesSinceParams) {
  const limit = Math.min(Math.max(Math.trunc(params.limit ?? 100), 1), 1000);
  const conditions: (SQL | undefined)[] = [gte(auditLog.changedAt, params.since), params.until && lt(auditLog.changedAt, params.until)];
  // Any part of who, in any case: "oscar" finds oscar.operator@… and the tokens he created
  // ("token nightly (created by oscar.operator@…)"); an exact, case-sensitive address found nothing
  // for "Oscar.Operator@…". LIKE's wildcards in the text are matched as themselves.
  if (params.actor !== undefined) conditions.push(ilike(auditLog.changedBy, `%${params.actor.replace(/[\\%_]/g, '\\$&')}%`));
  if (params.kind !== undefined) conditions.push(eq(auditLog.kind, params.kind));
  if (params.before) {
    // A JS Date has milliseconds, changed_at microseconds: the cursor row's exact time comes from its id.
    const cursorAt = sql`coalesce((select c.changed_at from audit_log c where c.id = ${params.before.id}), ${params.before.changedAt.toISOString()}::timestamptz)`;
    conditions.push(sql`(${auditLog.changedAt}, ${auditLog.id}) < (${cursorAt}, ${params.before.id})`);
  }
  if (params.integration === undefined) {
    return db
      .select()
      .from(auditLog)
      .where(and(...conditions))
      .orderBy(...NEWEST_FIRST)
      .limit(limit);
  }
  // Two index ranges, each newest first and limited, merged: the integration's own rows, and the
  // few breaker actions (integration null) on its breaker key.
  const own = db
    .select()
    .from(auditLog)
    .where(and(...conditions, eq(auditLog.integration, params.integration)))
    .orderBy(...NEWEST_FIRST)
    .limit(limit);
  const breaker = db
    .select()
    .from(auditLog)
    .where(
      and(
        ...conditions,
        isNull(auditLog.integration),
        inArray(auditLog.fieldName, BREAKER_ACTIONS),
        eq(auditLog.kind, 'action'),
        sql`${auditLog.newValue}->>'key' = (select i.breaker_key from integrations i where i.name = ${params.integration})`,
      ),
    )
    .orderBy(...NEWEST_FIRST)
    .limit(limit);
  // Fresh order terms: drizzle rewrites a set operation's column references in place.
  return own
    .unionAll(breaker)
    .orderBy(sql`changed_at desc nulls last`, sql`id desc nulls last`)
    .limit(limit);
}

/**
 * Every change of one field of one integration, newest first. `fieldName` 'settings.*' (any name
 * ending in '.*') matches the whole group: every settings key, or every 'secret.<name>'.
 */
export async function fieldHistory(
  db: DatabaseOrTransaction,
  params: { integration: string; fieldName: string; limit?: number },
): Promise<AuditRow[]> {
  const limit = Math.min(Math.max(Math.trunc(params.limit ?? 500), 1), 5000);
  const field = params.fieldName.endsWith('.*')
    ? or(
        eq(auditLog.fieldName, params.fieldName.slice(0, -2)),
        like(auditLog.fieldName, `${params.fieldName.slice(0, -2).replace(/[\\%_]/g, '\\$&')}.%`),
      )
    : eq(auditLog.fieldName, params.fieldName);
  return db
    .select()
    .from(auditLog)
    .where(and(eq(auditLog.integration, params.integration), eq(auditLog.kind, 'config'), field))
    .orderBy(...NEWEST_FIRST)
    .limit(limit);
}
