import { ConsecutiveBreaker } from 'cockatiel';
import { and, desc, eq, isNull, sql, type SQL } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { auditLog, breakers, integrations, type Breaker } from '../../../db/schema';
import { AppError, CircuitOpenError, circuitOpenMessage, storableText } from '../errors';
import { emitPlatformEvent } from '../execution/events';
import { RUNS_QUEUE, txEventSender } from '../execution/queue';
import { recordAction } from '../governance/audit';
import { exactTime } from '../when';

/**
 * A circuit breaker per external system, shared by every worker process through the `breakers`
 * row (the truth). Closed: requests flow, consecutive transient failures are counted (cockatiel's
 * ConsecutiveBreaker decides when the count opens it). Open: nothing is sent until `open_until`.
 * Then half-open: a conditional UPDATE lets exactly one trial request through (`trial_started_at`);
 * its success closes the breaker, its failure re-opens it. Transitions emit platform events in
 * the same transaction as the row change.
 */

export interface BreakerPolicy {
  /** Consecutive transient failures that open the breaker. */
  failures: number;
  /** How long it stays open before a trial request. */
  cooldownMs: number;
}

export interface BreakerPermit {
  key: string;
  /** This request is the half-open trial: its outcome closes or re-opens the breaker. */
  trial: boolean;
  /** Row state when the permit was given (a closed breaker with no failures needs no write on success). */
  seen: { state: Breaker['state']; consecutiveFailures: number } | null;
}

/** How long a half-open trial may take before another request may take it over. */
const DEFAULT_TRIAL_LEASE_MS = 60_000;
/** While another request's trial is in flight, a deferred run looks again after at most this long. */
const TRIAL_WAIT_MS = 5_000;

interface BreakerRow {
  state: Breaker['state'];
  consecutive_failures: number;
  open_until: Date | null;
  forced_open: boolean;
  trial_started_at: Date | null;
  due: boolean;
  trial_live: boolean;
  now: Date;
}

/**
 * The read before every outbound request, sent as a named prepared statement when a pool is at
 * hand (postgres.js caches it per connection by its text): parsed and planned once per connection
 * instead of once per request (bench/README.md, 2). Inside a transaction it goes through Drizzle.
 * A closed breaker (nearly every read) answers two columns: the others are null unless the
 * breaker is open or half-open, so nothing else is decoded per request.
 */
const BREAKER_COLUMNS = `
    b.state, b.consecutive_failures,
    case when b.state <> 'closed' then b.open_until end as open_until,
    case when b.state <> 'closed' then b.forced_open end as forced_open,
    case when b.state <> 'closed' then b.trial_started_at end as trial_started_at,
    case when b.state <> 'closed' then (b.open_until is not null and b.open_until <= now()) end as due,
    case when b.state <> 'closed' then (b.trial_started_at is not null and b.trial_started_at > now() - make_interval(secs => $2::float8)) end as trial_live,
    case when b.state <> 'closed' then now() end as now`;

const READ_ROW = `select ${BREAKER_COLUMNS} from breakers b where b.key = $1`;

/**
 * The same read with a run's checkpoint written in the same statement (fenced exactly as
 * writeCheckpoint in execution/checkpoint.ts: only while the attempt is running). One round trip
 * instead of two for a handler that checkpoints after each acknowledged request
 * (`ctx.cursor.checkpoint(value, { withNextRequest: true })`): the checkpoint is written, and
 * visible to every session, before the next request leaves. `checkpointed` is 0 when the attempt
 * no longer owns the run.
 *
 * Its commit does not wait for the WAL flush (`synchronous_commit` off for this statement only):
 * on this machine a flushed commit costs ~3 ms against ~0.15 ms for the read, and it sat on every
 * batch's path to its request. What that gives up is narrow: a worker crash or kill loses nothing
 * (the row is committed and visible at once); only a crash of PostgreSQL itself within the WAL
 * writer's delay (at most 3 × wal_writer_delay, 600 ms by default) can lose the newest
 * checkpoints, and then the retry resumes from an earlier one and re-sends batches whose
 * per-record idempotency identities book nothing twice. The WAL is flushed in order, so any later
 * synchronous commit (the next log write, the attempt's outcome) makes it durable too.
 */
const READ_ROW_WITH_CHECKPOINT = `
    with cp as (
      update runs set checkpoint = $3::jsonb, checkpoint_at = now()
       where id = $4::uuid
         and exists (select 1 from attempts where id = $5::uuid and outcome = 'running')
      returning id)
    select ${BREAKER_COLUMNS}, (select count(*) from cp)::int as checkpointed
      from (select set_config('synchronous_commit', 'off', true)) as one left join breakers b on b.key = $1`;

/** A checkpoint written with the breaker read; `written` is called once the statement has run. */
export interface CheckpointWithRead {
  runId: string;
  attemptId: string;
  json: string;
  written(ok: boolean): void;
}

async function readRow(
  db: DatabaseOrTransaction,
  key: string,
  trialLeaseMs: number,
  checkpoint?: CheckpointWithRead,
): Promise<BreakerRow | undefined> {
  const client = (db as Partial<Database>).$client;
  if (checkpoint && !client) throw new Error('a checkpoint rides on the breaker read only outside a transaction');
  const rows = checkpoint
    ? await client!.unsafe<Record<string, unknown>[]>(
        READ_ROW_WITH_CHECKPOINT,
        [key, trialLeaseMs / 1000, checkpoint.json, checkpoint.runId, checkpoint.attemptId],
        { prepare: true },
      )
    : client
      ? await client.unsafe<Record<string, unknown>[]>(READ_ROW, [key, trialLeaseMs / 1000], { prepare: true })
      : await db.execute<Record<string, unknown>>(sql`
    select state, consecutive_failures, open_until, forced_open, trial_started_at,
           (open_until is not null and open_until <= now()) as due,
           (trial_started_at is not null and trial_started_at > now() - make_interval(secs => ${trialLeaseMs / 1000})) as trial_live,
           now() as now
    from breakers where key = ${key}`);
  const row = rows[0];
  if (checkpoint) checkpoint.written(Number(row?.checkpointed) === 1);
  return parseBreakerRow(row);
}

/**
 * The breaker row of `keyExpression` as one JSON value (null when it has no row), for a caller
 * that reads it inside a larger query (the runner loads a run, its turn and its breaker at once);
 * `breakerDeferralFrom` turns it into the same answer as `breakerDeferral`.
 */
export function breakerRowJson(keyExpression: SQL, trialLeaseMs = DEFAULT_TRIAL_LEASE_MS): SQL {
  return sql`(select json_build_object(
      'state', b.state, 'consecutive_failures', b.consecutive_failures, 'open_until', b.open_until,
      'forced_open', b.forced_open, 'trial_started_at', b.trial_started_at,
      'due', (b.open_until is not null and b.open_until <= now()),
      'trial_live', (b.trial_started_at is not null and b.trial_started_at > now() - make_interval(secs => ${trialLeaseMs / 1000})),
      'now', now())
    from breakers b where b.key = ${keyExpression})`;
}

/** `breakerDeferral` over a row read with `breakerRowJson`. */
export function breakerDeferralFrom(json: unknown, params: { cooldownMs: number }): Date | null {
  return deferral(parseBreakerRow(json as Record<string, unknown> | null | undefined), params.cooldownMs);
}

/** Opened by hand with no end: open until someone resets it. */
function isHeld(row: BreakerRow | undefined): boolean {
  return row?.state === 'open' && row.forced_open && !row.open_until;
}

/** Whether a breaker row (as the runner's load reads it) is held open by hand. */
export function breakerHeldFrom(json: unknown): boolean {
  return isHeld(parseBreakerRow(json as Record<string, unknown> | null | undefined));
}

function parseBreakerRow(row: Record<string, unknown> | null | undefined): BreakerRow | undefined {
  if (!row?.state) return undefined;
  return {
    state: row.state as Breaker['state'],
    consecutive_failures: Number(row.consecutive_failures),
    open_until: row.open_until ? new Date(row.open_until as string) : null,
    forced_open: Boolean(row.forced_open),
    trial_started_at: row.trial_started_at ? new Date(row.trial_started_at as string) : null,
    due: Boolean(row.due),
    trial_live: Boolean(row.trial_live),
    // Absent for a closed breaker (READ_ROW), which never looks at it.
    now: row.now ? new Date(row.now as string) : new Date(),
  };
}

/**
 * When a run should wait for this breaker, the time to look again; null when a request may go out
 * (closed, or open past its cooldown so a trial is possible).
 */
export async function breakerDeferral(
  db: DatabaseOrTransaction,
  params: { key: string; cooldownMs: number; trialLeaseMs?: number },
): Promise<Date | null> {
  return deferral(await readRow(db, params.key, params.trialLeaseMs ?? DEFAULT_TRIAL_LEASE_MS), params.cooldownMs);
}

function deferral(row: BreakerRow | undefined, cooldownMs: number): Date | null {
  if (!row || row.state === 'closed') return null;
  if (row.state === 'open') {
    if (row.forced_open && !row.open_until) return new Date(row.now.getTime() + cooldownMs);
    return row.due ? null : row.open_until;
  }
  return row.trial_live ? new Date(row.now.getTime() + Math.min(cooldownMs, TRIAL_WAIT_MS)) : null;
}

/**
 * Asks the breaker for one outbound request; throws CircuitOpenError when none may leave. With
 * `checkpoint`, the run's checkpoint is written by the same statement as the read.
 */
export async function acquireBreakerPermit(
  db: Database,
  params: { key: string; cooldownMs: number; trialLeaseMs?: number; checkpoint?: CheckpointWithRead },
): Promise<BreakerPermit> {
  const lease = params.trialLeaseMs ?? DEFAULT_TRIAL_LEASE_MS;
  const row = await readRow(db, params.key, lease, params.checkpoint);
  if (!row || row.state === 'closed') {
    return { key: params.key, trial: false, seen: row ? { state: row.state, consecutiveFailures: row.consecutive_failures } : null };
  }
  if (row.state === 'open' && (!row.due || (row.forced_open && !row.open_until))) {
    const at = row.open_until ?? new Date(row.now.getTime() + params.cooldownMs);
    throw new CircuitOpenError(params.key, at, circuitOpenMessage(params.key, at, isHeld(row)));
  }
  // Open past its cooldown, or half-open with no live trial: exactly one caller wins this UPDATE.
  const claimed = await db.execute(sql`
    update breakers set state = 'half_open', trial_started_at = now(), updated_at = now()
    where key = ${params.key}
      and ((state = 'open' and open_until is not null and open_until <= now())
        or (state = 'half_open' and (trial_started_at is null or trial_started_at <= now() - make_interval(secs => ${lease / 1000}))))
    returning key`);
  if (claimed.length === 1)
    return { key: params.key, trial: true, seen: { state: 'half_open', consecutiveFailures: row.consecutive_failures } };
  throw new CircuitOpenError(
    params.key,
    new Date(row.now.getTime() + Math.min(params.cooldownMs, TRIAL_WAIT_MS)),
    `Circuit '${params.key}' is half-open and another request is the trial: no request was sent; the run continues shortly`,
  );
}

/**
 * A dry-run's look at the breaker: it never changes it (no trial claimed, no outcome counted, so a
 * dry-run neither opens nor closes a breaker, nor alerts). It waits whenever a real request would
 * (open, or half-open with a trial out); past the cooldown its read goes out without being the
 * trial, so a dry-run is not held up until some real run has closed the breaker. Throws
 * CircuitOpenError to wait. `checkpoint` rides on the read as in acquireBreakerPermit.
 */
export async function observeBreaker(
  db: Database,
  params: { key: string; cooldownMs: number; trialLeaseMs?: number; checkpoint?: CheckpointWithRead },
): Promise<undefined> {
  const row = await readRow(db, params.key, params.trialLeaseMs ?? DEFAULT_TRIAL_LEASE_MS, params.checkpoint);
  const retryAt = deferral(row, params.cooldownMs);
  if (retryAt) throw new CircuitOpenError(params.key, retryAt, circuitOpenMessage(params.key, retryAt, isHeld(row)));
  return undefined;
}

async function integrationsSharing(db: DatabaseOrTransaction, key: string): Promise<string[]> {
  const rows = await db.select({ name: integrations.name }).from(integrations).where(eq(integrations.breakerKey, key));
  return rows.map((r) => r.name).sort();
}

/** The request got an answer that does not count as a failure (2xx-4xx): a trial closes the breaker. */
export async function recordBreakerSuccess(db: Database, boss: PgBoss, params: { permit: BreakerPermit }): Promise<void> {
  const { permit } = params;
  if (!permit.trial) {
    if (permit.seen?.state === 'closed' && permit.seen.consecutiveFailures > 0) {
      await db
        .update(breakers)
        .set({ consecutiveFailures: 0, updatedAt: sql`now()` })
        .where(sql`${breakers.key} = ${permit.key} and ${breakers.state} = 'closed'`);
    }
    return;
  }
  await db.transaction(async (tx) => {
    const closed = await tx.execute(sql`
      update breakers set state = 'closed', consecutive_failures = 0, opened_at = null, open_until = null,
        trial_started_at = null, forced_open = false, updated_at = now()
      where key = ${permit.key} and state = 'half_open'
      returning key`);
    if (closed.length === 1) {
      await emitPlatformEvent(txEventSender(boss, tx), {
        type: 'breaker.closed',
        at: new Date().toISOString(),
        breakerKey: permit.key,
        integrations: await integrationsSharing(tx, permit.key),
      });
    }
  });
}

/** A transient outbound failure (5xx, timeout, connection): counted; may open or re-open the breaker. */
export async function recordBreakerFailure(
  db: Database,
  boss: PgBoss,
  params: { permit: BreakerPermit; policy: BreakerPolicy; error: string },
): Promise<void> {
  const { permit, policy } = params;
  const error = storableText(params.error.slice(0, 1000));
  await db.transaction(async (tx) => {
    await tx.insert(breakers).values({ key: permit.key }).onConflictDoNothing();
    const rows = await tx.execute<Record<string, unknown>>(
      sql`select state, consecutive_failures from breakers where key = ${permit.key} for update`,
    );
    const state = rows[0].state as Breaker['state'];
    const counter = new ConsecutiveBreaker(Math.max(1, policy.failures));
    counter.state = Number(rows[0].consecutive_failures);
    const shouldOpen = (permit.trial && state === 'half_open') || (state === 'closed' && counter.failure());
    if (!shouldOpen) {
      await tx.execute(sql`
        update breakers set consecutive_failures = consecutive_failures + 1, last_error = ${error},
          last_failure_at = now(), updated_at = now()
        where key = ${permit.key}`);
      return;
    }
    const opened = await tx.execute<{ open_until: string }>(sql`
      update breakers set state = 'open', consecutive_failures = consecutive_failures + 1, last_error = ${error},
        last_failure_at = now(), opened_at = now(), open_until = now() + make_interval(secs => ${policy.cooldownMs / 1000}),
        trial_started_at = null, updated_at = now()
      where key = ${permit.key}
      returning open_until`);
    await emitPlatformEvent(txEventSender(boss, tx), {
      type: 'breaker.opened',
      at: new Date().toISOString(),
      breakerKey: permit.key,
      integrations: await integrationsSharing(tx, permit.key),
      error,
      openUntil: new Date(opened[0].open_until).toISOString(),
    });
  });
}

export async function getBreaker(db: DatabaseOrTransaction, params: { key: string }): Promise<Breaker | null> {
  const [row] = await db.select().from(breakers).where(eq(breakers.key, params.key));
  return row ?? null;
}

async function assertKnownKey(db: DatabaseOrTransaction, key: string) {
  const [known] = await db
    .select({ n: sql<number>`1` })
    .from(integrations)
    .where(eq(integrations.breakerKey, key))
    .limit(1);
  const [row] = await db.select({ key: breakers.key }).from(breakers).where(eq(breakers.key, key));
  if (!known && !row) {
    throw new AppError('not_found', `No breaker '${key}': use an integration's breaker key (its name unless it declares breakerKey)`);
  }
}

/**
 * Operator action: close the breaker and forget its failures. Recorded in the audit trail. A
 * breaker already closed with no failures counted is refused (AppError 'invalid_state').
 */
export async function resetBreaker(
  db: Database,
  params: { key: string; by: string; boss?: PgBoss; correlationId?: string },
): Promise<void> {
  await db.transaction(async (tx) => {
    await assertKnownKey(tx, params.key);
    const [before] = await tx.select().from(breakers).where(eq(breakers.key, params.key)).for('update');
    // Nothing to reset (another operator did, or it never failed): refused like a second pause,
    // rather than audited as a reset that changed nothing.
    if (!before || (before.state === 'closed' && before.consecutiveFailures === 0 && !before.forcedOpen)) {
      throw new AppError('invalid_state', `Breaker '${params.key}' is already closed with no failures counted: nothing changed`);
    }
    await tx
      .insert(breakers)
      .values({ key: params.key })
      .onConflictDoUpdate({
        target: breakers.key,
        set: {
          state: 'closed',
          consecutiveFailures: 0,
          openedAt: null,
          openUntil: null,
          trialStartedAt: null,
          forcedOpen: false,
          updatedAt: sql`now()`,
        },
      });
    await recordAction(tx, {
      actor: params.by,
      correlationId: params.correlationId,
      action: 'breaker_reset',
      details: { key: params.key, previousState: before?.state ?? 'closed' },
    });
    // The runs it deferred were re-queued for its half-open time (or, held open, a cooldown on):
    // a reset means "send now", so they are due now, in the same transaction.
    if (before && before.state !== 'closed') await wakeRunsDeferredBy(tx, params.key);
    if (params.boss && before && before.state !== 'closed') {
      await emitPlatformEvent(txEventSender(params.boss, tx), {
        type: 'breaker.closed',
        at: new Date().toISOString(),
        correlationId: params.correlationId,
        breakerKey: params.key,
        integrations: await integrationsSharing(tx, params.key),
      });
    }
  });
}

/**
 * Brings forward the runs waiting out this breaker: status 'deferred' of the integrations sharing
 * it, due later, not held, whose job says an open breaker deferred them (`deferredBy: 'breaker'`,
 * runner.ts). A run deferred for its turn (also 'deferred', but behind an earlier run of its
 * integration) is left to wait: delivered now it would find it is still not its turn and wait
 * again, a wasted delivery. Unless it waits for a run woken here: the runner deferred it to that
 * run's next attempt (to the millisecond, as wakeRunsDeferredBehind in triggers.ts finds them),
 * which is now, so it is due now too, as it would have been.
 *
 * A job made before the runner marked them (a database upgraded with such jobs queued) has no
 * `deferredBy`: it is known by the runner's record of the deferral instead, an attempt 'deferred'
 * with CircuitOpenError closed in the transaction that made the job (finished_at is the job's
 * created_on: both are that transaction's now()). A run the breaker deferred once and since
 * deferred for its turn, or waiting out a retry delay, has a job made later: it is not woken.
 */
async function wakeRunsDeferredBy(tx: DatabaseOrTransaction, key: string) {
  await tx.execute(sql`
    with deferred as (
      select r.id, r.integration, r.next_attempt_at from runs r
        join pgboss.job j on j.name = ${RUNS_QUEUE} and j.id = r.job_id
       where r.integration in (select name from integrations where breaker_key = ${key})
         and r.status = 'deferred' and r.hold is null and r.next_attempt_at > now()
         and j.state = 'created'
         and (j.data->>'deferredBy' = 'breaker'
              or exists (select 1 from attempts a
                          where a.run_id = r.id and a.run_created_at = r.created_at
                            and a.outcome = 'deferred' and a.error_class = 'CircuitOpenError'
                            and a.finished_at = j.created_on))),
    woken as (
      update runs r set next_attempt_at = now()
        from deferred d
       where r.integration = d.integration and r.hold is null and r.next_attempt_at > now()
         and (r.id = d.id or (r.status in ('queued', 'deferred') and not r.dry_run
              and r.next_attempt_at >= d.next_attempt_at and r.next_attempt_at < d.next_attempt_at + interval '1 millisecond'))
      returning r.job_id)
    update pgboss.job set start_after = now()
     where name = ${RUNS_QUEUE} and state = 'created' and start_after > now() and id in (select job_id from woken)`);
}

/**
 * Operator action: hold the breaker open (until `until`, else until reset). Recorded in the audit
 * trail. A breaker already held open until the same time is refused (AppError 'invalid_state').
 */
export async function openBreaker(
  db: Database,
  params: { key: string; by: string; until?: Date; boss?: PgBoss; correlationId?: string },
): Promise<void> {
  if (params.until && params.until.getTime() <= Date.now()) {
    throw new AppError(
      'invalid_input',
      `'until' (${params.until.toISOString()}) is in the past: give a future time, or none to hold the breaker open until reset`,
    );
  }
  await db.transaction(async (tx) => {
    await assertKnownKey(tx, params.key);
    const [before] = await tx.select().from(breakers).where(eq(breakers.key, params.key)).for('update');
    // Already held open until the same time (a second click, or a page opened before another
    // operator's): refused, so its 'open since', audit trail and events stay the first opening's.
    if (before?.forcedOpen && before.state === 'open' && (before.openUntil?.getTime() ?? null) === (params.until?.getTime() ?? null)) {
      // Who opened it is in the audit trail (its last_error stays the system's own error).
      const [opener] = await tx
        .select({ by: auditLog.changedBy })
        .from(auditLog)
        .where(and(isNull(auditLog.integration), eq(auditLog.fieldName, 'breaker_open'), sql`${auditLog.newValue}->>'key' = ${params.key}`))
        .orderBy(desc(auditLog.changedAt), desc(auditLog.id))
        .limit(1);
      const by = opener ? ` by ${opener.by}` : '';
      const at = before.openedAt ? ` at ${exactTime(before.openedAt)}` : '';
      throw new AppError(
        'invalid_state',
        `Breaker '${params.key}' was already opened${by}${at}: nothing changed; reset it to let requests through`,
      );
    }
    const values = {
      state: 'open' as const,
      forcedOpen: true,
      openedAt: sql`now()`,
      openUntil: params.until ?? null,
      trialStartedAt: null,
      // last_error stays the external system's last failure: an operator opening the breaker is
      // no error of that system (the card read "Last error 2 hours ago: opened by …", the real one
      // lost). Who opened it is in the audit trail (breaker_open) and the breaker.opened event.
      updatedAt: sql`now()`,
    };
    await tx
      .insert(breakers)
      .values({ key: params.key, ...values })
      .onConflictDoUpdate({ target: breakers.key, set: values });
    await recordAction(tx, {
      actor: params.by,
      correlationId: params.correlationId,
      action: 'breaker_open',
      details: { key: params.key, until: params.until?.toISOString() ?? null },
    });
    if (params.boss) {
      await emitPlatformEvent(txEventSender(params.boss, tx), {
        type: 'breaker.opened',
        at: new Date().toISOString(),
        correlationId: params.correlationId,
        breakerKey: params.key,
        integrations: await integrationsSharing(tx, params.key),
        // The system's own last error, if it had one: the incident's last error stays a real one.
        error: before?.lastError ?? '',
        openUntil: params.until?.toISOString() ?? null,
        openedBy: params.by,
      });
    }
  });
}
