import { randomUUID } from 'node:crypto';
import { and, eq, notInArray, sql } from 'drizzle-orm';
import type { Db as BossDb, PgBoss } from 'pg-boss';
import type postgres from 'postgres';
import { postgresClient, readOnlyRefusal, type Database, type Transaction } from '../../../db/client';
import { attempts, cursors, integrations, runRecoveries, runs, type Integration, type Run } from '../../../db/schema';
import type { Registry, RunResult } from '../contract';
import { formatDuration, parseDuration } from '../duration';
import {
  AttemptTimeoutError,
  CancelledError,
  circuitOpenMessage,
  classifyError,
  databaseReason,
  errorClassName,
  errorMessage,
  isCancelledError,
  isCredentialsError,
  isDatabaseUnavailableError,
  isDeclaredError,
  jsonNeedsStoring,
  PermanentError,
  storableJson,
  storableText,
} from '../errors';
import { applyPendingEvents } from '../intake/process';
import { isRetryOfEventRun, markEventsOfFailedRun } from '../intake/waiting';
import { encodeLogBatch, logBatchInsert, writeLogLines, type LogLine } from '../log';
import { platformMetrics } from '../observability/metrics';
import { contextFromTraceparent, CORRELATION_ATTRIBUTE, SpanStatusCode, withSpan } from '../observability/tracing';
import { SecretRedactor } from '../redaction';
import { attemptTimeoutMs } from '../registry';
import { breakerDeferralFrom, breakerHeldFrom, breakerRowJson } from '../resilience/breaker';
import type { PlannedRequest } from '../resilience/dry-run';
import { retryBudgetMessage, retryBudgetStatus } from '../resilience/retry-budget';
import { recordCredentialsFailure, recordCredentialsRecovered } from '../resilience/token-health';
import { isActiveRunStatus, isTerminalRunStatus, TERMINAL_RUN_STATUSES } from '../run-status';
import { BOSS_SCHEMA } from './boss';
import { commitCheckpointAsCursor, commitCheckpointStatement } from './checkpoint';
import { createAttemptContext, type AttemptScope, type ContextDeps } from './context';
import { emitPlatformEvent, PLATFORM_EVENT_JOB_OPTIONS, PLATFORM_EVENTS_QUEUE, type PlatformEvent } from './events';
import { arrayParameter, bossDb, ensurePlatformQueues, RUNS_QUEUE, sendRunJob, txEventSender } from './queue';
import { storableResult } from './result';
import { checkTurn, firstTurnJson, isFirstTurn, turnFrom, type Turn } from './run-order';

/**
 * The runner: executes one attempt of a run when its pg-boss job is delivered, and records it.
 *
 * The runs row is the truth; a job is only a wake-up call. `runs.job_id` names the job that carries
 * the next attempt, so a stale or duplicate delivery is ignored. Every outcome is written in one
 * transaction with the follow-up job and the platform event, fenced on the attempt still being
 * 'running' (a worker that lost its claim cannot overwrite what its successor recorded):
 *
 * - success → run succeeded, cursor committed (the staged value, else the run's last checkpoint;
 *   never in dry-run), `run.succeeded` emitted when it may close an incident (AttemptInputs.announce);
 *   a run that ends failed or cancelled commits its
 *   last checkpoint as the cursor too (checkpoint.ts: it covers acknowledged work only);
 * - PermanentError → run failed at once, `run.failed` (permanent);
 * - other errors → next attempt as a NEW job after the integration's delay, or, when the delays are
 *   used up, run failed and `run.failed` (retries_exhausted); over the integration's retry budget
 *   (retry-budget.ts) not retried: run failed and `run.failed` (retry_budget);
 * - CircuitOpenError → attempt deferred, re-queued for the breaker's half-open time, no attempt used;
 * - cancellation → attempt and run cancelled; release (worker stopping) → re-queued now, no attempt used;
 * - interruption (the worker lost, the database unavailable) → attempt recorded 'interrupted', run
 *   re-queued now with the same attempt number; over the interruption cap, run failed and
 *   `run.failed` (interrupted). A lost worker is found by the liveness sweep (liveness.ts), which
 *   calls recoverLostAttempt.
 * Dry-runs never emit events.
 */

export interface RunnerDeps extends ContextDeps {
  registry: Registry;
  workerId: string;
  /** Holds each attempt's liveness lock while it runs (liveness.ts); absent, a sweep would take the attempt for lost. */
  liveness?: {
    hold(attemptId: string): Promise<void>;
    /** hold for several attempts in one statement. */
    holdMany?(attemptIds: string[]): Promise<void>;
    release(attemptId: string): Promise<void>;
  };
  /** Interruptions (worker lost, database unavailable) after which a run fails. Default 10. */
  maxInterruptions?: number;
  /**
   * How long a handler may go on after its attempt's time limit aborted ctx.signal before the
   * platform stops waiting for it (runAttempt). Default 30 000.
   */
  attemptTimeoutGraceMs?: number;
}

export const DEFAULT_MAX_INTERRUPTIONS = 10;
export const DEFAULT_ATTEMPT_TIMEOUT_GRACE_MS = 30_000;

export type RunJobOutcome =
  | 'missing'
  | 'stale'
  | 'skipped'
  | 'succeeded'
  | 'failed'
  | 'retrying'
  | 'deferred'
  | 'cancelled'
  | 'released'
  | 'interrupted'
  | 'recovered'
  | 'abandoned';

export interface RunJobParams {
  jobId: string;
  runId: string;
  /** The delivery's retry count (pg-boss job.retryCount): the run's outcome completes exactly this delivery of the job. */
  jobRetryCount?: number;
  /** pg-boss's signal for the job: aborted when the job expires or the claim is lost. */
  jobSignal?: AbortSignal;
  /** The worker's control: aborted with a CancelledError to cancel ('cancelled') or release ('released'). */
  control: AbortSignal;
  /**
   * Called once the job's completion has committed with the run's outcome (a success completes its
   * job in its own transaction, fenced on this delivery): pg-boss then has nothing left to write.
   */
  jobCompleted?: () => void;
}

export async function executeRunJob(deps: RunnerDeps, params: RunJobParams): Promise<RunJobOutcome> {
  // The attempt's liveness lock is taken on the worker's own session while the run is read (two
  // connections, no added wait); it is released below when no attempt starts.
  const attemptId = randomUUID();
  const holding = deps.liveness?.hold(attemptId);
  holding?.catch(() => {});
  let handedOver = false;
  try {
    const outcome = await prepareRunJob(deps, params);
    if (typeof outcome === 'string') return outcome;
    await holding;
    handedOver = true;
    try {
      return await executeAttempt(deps, params, { ...outcome, attemptId });
    } finally {
      // After the attempt's outcome has committed (liveness.ts).
      await deps.liveness?.release(attemptId);
    }
  } finally {
    if (!handedOver && deps.liveness) {
      await holding?.catch(() => {});
      await deps.liveness.release(attemptId);
    }
  }
}

/** How long a finished attempt of a batch waits for the others before its success is recorded without them. */
const BATCH_SETTLE_WAIT_MS = 20;

/**
 * Executes the runs of one fetch together (issue 18, throughput): they belong to different
 * integrations (the queue lets one job per integration be active). Their liveness locks are
 * taken in one statement on the worker's liveness session, and the statement that loads them all
 * also starts the runs that take the usual path (first attempt, its turn, its breaker closed, not
 * a dry-run) once it finds their locks held (loadAndStartRuns); a usual start it leaves (a
 * half-open breaker, a lock not yet taken) goes in one more statement (startAttempts). Their
 * handlers run side by side, and their successes are recorded together in one transaction
 * (settleSucceededBatch), with their jobs completed in it. Every other run (and every attempt that
 * does not succeed, or whose fence fails at the end) takes the per-run path unchanged. One result
 * per job, in order; each rejects only for its own job. A fetch of one job (the default worker's)
 * takes the same path: its load and start are one statement and its success one round trip
 * (settleInOneRoundTrip), fewer than the per-run path's.
 */
export async function executeRunBatch(deps: RunnerDeps, batch: RunJobParams[]): Promise<PromiseSettledResult<RunJobOutcome>[]> {
  const attemptIds = batch.map(() => randomUUID());
  // Sent first: the load below starts only the attempts whose lock it finds held (loadAndStartRuns).
  const holding = deps.liveness?.holdMany ? deps.liveness.holdMany(attemptIds) : Promise.resolve();
  holding.catch(() => {});
  let loaded: LoadedStartRun[];
  try {
    loaded = await loadAndStartRuns(deps, batch, attemptIds);
  } catch {
    // Nothing started (the statement is atomic): every run takes the per-run path.
    loaded = [];
  }
  const byId = new Map(loaded.map((row) => [row.run.id, row]));
  const fast: { params: RunJobParams; inputs: AttemptInputs }[] = [];
  const slow: RunJobParams[] = [];
  const unused: string[] = [];
  let started = new Map<string, number>();
  const outcomes = new Map<string, Promise<RunJobOutcome>>();
  batch.forEach((params, i) => {
    const row = byId.get(params.runId);
    const inputs = usualStart(deps, row, params);
    const startedNumber = row?.startedNumber ?? null;
    if (inputs) fast.push({ params, inputs: { ...inputs, attemptId: attemptIds[i] } });
    if (startedNumber !== null) {
      if (inputs) started.set(attemptIds[i], Number(startedNumber));
      else {
        // Never expected: the statement starts a subset of the usual starts. The attempt is
        // running with its lock held here: releasing the lock hands it to the liveness sweep,
        // which records it interrupted and re-queues the run without using an attempt.
        console.error(`[runner] run ${params.runId}: started by the batch load outside the usual path; released to recovery`);
        unused.push(attemptIds[i]);
        outcomes.set(params.jobId, Promise.resolve('skipped'));
      }
    } else if (!inputs) {
      slow.push(params);
      unused.push(attemptIds[i]);
    }
  });
  const toStart = fast.filter((f) => !started.has(f.inputs.attemptId));
  try {
    await holding;
    // The usual starts the load did not take (a breaker half open, a lock not yet seen): one more statement.
    if (toStart.length > 0) started = new Map([...started, ...(await startAttempts(deps, toStart))]);
  } catch {
    // Nothing more started: those runs take the per-run path (the load's starts stand, their locks held).
    for (const f of toStart) {
      slow.push(f.params);
      unused.push(f.inputs.attemptId);
    }
    fast.splice(0, fast.length, ...fast.filter((f) => started.has(f.inputs.attemptId)));
  }
  const skipped = fast.filter((f) => !started.has(f.inputs.attemptId));
  for (const f of skipped) unused.push(f.inputs.attemptId);
  if (deps.liveness) for (const id of unused) await deps.liveness.release(id);

  for (const params of slow) outcomes.set(params.jobId, executeRunJob(deps, params));
  for (const f of skipped) outcomes.set(f.params.jobId, Promise.resolve('skipped'));
  const running = fast.filter((f) => started.has(f.inputs.attemptId));
  const settler = batchSettler(deps, running.length);
  for (const { params, inputs } of running) {
    const execution = (async () => {
      let reported = false;
      const finish: SucceededFinisher = (...args) => {
        reported = true;
        return settler.succeeded(args);
      };
      try {
        return await executeAttempt(deps, params, inputs, { number: started.get(inputs.attemptId)!, finish });
      } finally {
        if (!reported) settler.other();
        // After the attempt's outcome has committed (liveness.ts).
        await deps.liveness?.release(inputs.attemptId);
      }
    })();
    outcomes.set(params.jobId, execution);
  }
  return Promise.allSettled(batch.map((params) => outcomes.get(params.jobId)!));
}

/** The attempt inputs when a loaded run takes the usual path (see executeRunBatch); undefined for the per-run path. */
function usualStart(deps: RunnerDeps, loaded: LoadedRun | undefined, params: RunJobParams): Omit<AttemptInputs, 'attemptId'> | undefined {
  if (!loaded?.integration || loaded.openAttemptId) return undefined;
  const { run, integration } = loaded;
  if (run.jobId !== params.jobId || isTerminalRunStatus(run.status) || run.attemptCount >= run.maxAttempts || !isFirstTurn(run))
    return undefined;
  const def = deps.registry.get(run.integration);
  if (!def || turnFrom(loaded.firstTurn).waitFor) return undefined;
  if (breakerDeferralFrom(loaded.breaker, { cooldownMs: parseDuration(integration.breakerCooldown) })) return undefined;
  return { run, def, integration, overtaken: 0, mayHaveCheckpoint: loaded.hasCheckpoint, announce: loaded.announce };
}

/**
 * startAttempt for several runs in ONE statement (same conditions per run: its job is still the
 * one delivered, it has not finished): the attempt number of each attempt opened, by attempt id.
 */
async function startAttempts(deps: RunnerDeps, fast: { params: RunJobParams; inputs: AttemptInputs }[]): Promise<Map<string, number>> {
  const runsOf = batchKeys(fast.map((f) => f.inputs.run));
  const input = JSON.stringify(
    fast.map((f) => ({
      run_id: f.inputs.run.id,
      created_at: f.inputs.run.createdAt.toISOString(),
      job_id: f.params.jobId,
      attempt_id: f.inputs.attemptId,
    })),
  );
  const rows = await deps.db.$client.unsafe<{ id: string; number: number }[]>(
    START_BATCH_SQL,
    [input, deps.workerId, runsOf.ids, runsOf.from, runsOf.to],
    { prepare: true },
  );
  return new Map(rows.map((row) => [row.id, Number(row.number)]));
}

/** startAttempts' statement (exported for the plan tests): $1 the batch as jsonb, $2 the worker, $3–$5 its batchKeys. */
export const START_BATCH_SQL = `
  with input as (
    select * from jsonb_to_recordset($1::jsonb) as x(run_id uuid, created_at timestamptz, job_id uuid, attempt_id uuid)),
  started as (
    update runs r
       set status = 'running', attempt_count = r.attempt_count + 1,
           started_at = coalesce(r.started_at, now()), next_attempt_at = null
      from input i
     where ${byBatchKeys('r', '$3', '$4', '$5')}
       and r.id = i.run_id and r.created_at = i.created_at and r.job_id = i.job_id
       and r.status not in (${TERMINAL_RUN_STATUSES.map((s) => `'${s}'`).join(', ')})
    returning r.id, r.created_at, r.attempt_count, i.job_id, i.attempt_id)
  insert into attempts (id, run_id, run_created_at, number, job_id, worker)
  select attempt_id, id, created_at, attempt_count, job_id::text, $2 from started
  returning id, number`;

/**
 * The rows a batch statement touches, found through their primary key: `id = any(<ids>)` and
 * `created_at` within the batch's bounds (which prunes the weekly partitions). Joined only with
 * the batch's jsonb input, which the planner takes for 100 rows of unknown values, a batch
 * statement was planned as a hash join over a sequential scan of the whole week's partition (seen:
 * every fetch of 16 read all 8 000 runs of the week, twice, and the attempts once per run).
 */
function byBatchKeys(alias: string, ids: string, from: string, to: string, key = 'id', createdAt = 'created_at') {
  return `${alias}.${key} = any(string_to_array(${ids}::text, ',')::uuid[]) and ${alias}.${createdAt} between ${from}::timestamptz and ${to}::timestamptz`;
}

/** The ids (comma-separated, for byBatchKeys) and created_at bounds of a batch's runs. */
export function batchKeys(batch: Pick<Run, 'id' | 'createdAt'>[], ids: string[] = batch.map((run) => run.id)) {
  let from = batch[0].createdAt;
  let to = batch[0].createdAt;
  for (const run of batch) {
    if (run.createdAt < from) from = run.createdAt;
    if (run.createdAt > to) to = run.createdAt;
  }
  return { ids: ids.join(','), from: from.toISOString(), to: to.toISOString() };
}

type SucceededArgs = Parameters<SucceededFinisher>;

/**
 * Collects the successes of a batch and records them together: when every started attempt of the
 * batch has reported, or BATCH_SETTLE_WAIT_MS after the first unrecorded success (a slow run does
 * not hold the others' outcomes back).
 */
function batchSettler(deps: RunnerDeps, total: number) {
  let waiting = total;
  let queue: { args: SucceededArgs; resolve: (outcome: Promise<RunJobOutcome>) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const entries = queue;
    queue = [];
    if (entries.length === 0) return;
    const settled = settleSucceededBatch(
      deps,
      entries.map((e) => e.args),
    );
    entries.forEach((entry, i) => entry.resolve(settled.then((outcomes) => outcomes[i])));
  };
  const reported = () => {
    waiting -= 1;
    if (waiting <= 0) flush();
    else if (queue.length > 0) timer ??= setTimeout(flush, BATCH_SETTLE_WAIT_MS);
  };
  return {
    succeeded(args: SucceededArgs): Promise<RunJobOutcome> {
      return new Promise<RunJobOutcome>((resolve) => {
        queue.push({ args, resolve });
        reported();
      });
    },
    other: reported,
  };
}

/**
 * finishSucceededInOneStatement for several successes in one transaction: one statement fences
 * each attempt (still 'running', its run locked and not cancelled, its integration's credentials
 * not failing), marks the runs succeeded, commits their cursors and writes every attempt's last
 * log lines; then the `run.succeeded` events (of the successes to announce) and the completion of
 * the jobs (fenced on their delivery), in the same transaction. Usually all of it in one round
 * trip (settleInOneRoundTrip); when some fence fails, again in a transaction that records the
 * attempts that passed, and each of the others takes the general path afterwards
 * (finishSucceededGeneral). If a transaction fails, each takes the per-run path from the start.
 */
async function settleSucceededBatch(deps: RunnerDeps, entries: SucceededArgs[]): Promise<RunJobOutcome[]> {
  const input = JSON.stringify(
    entries.map(([, , run, attemptId, scope, result, , announce]) => {
      const staged = scope.stagedCursor();
      return {
        run_id: run.id,
        created_at: run.createdAt.toISOString(),
        attempt_id: attemptId,
        integration: run.integration,
        result: jsonSafe(result),
        has_staged: staged !== undefined,
        staged: staged ? staged.value : null,
        announce,
      };
    }),
  );
  // Each attempt's last lines as one attempt_log_batches row, like a flush of its log.
  const logs = JSON.stringify(
    entries.flatMap(([, , run, attemptId, , , lastLines]) =>
      lastLines.length === 0 ? [] : [{ attempt_id: attemptId, run_created_at: run.createdAt.toISOString(), ...encodeLogBatch(lastLines) }],
    ),
  );
  const keys = batchKeys(entries.map(([, , run]) => run));
  const attemptKeys = batchKeys(
    entries.map(([, , run]) => run),
    entries.map(([, , , attemptId]) => attemptId),
  );
  const values = (expected: number) => [input, logs, keys.ids, keys.from, keys.to, attemptKeys.ids, expected];
  let closed: Set<string>;
  try {
    await ensurePlatformQueues(deps.boss);
    closed = await settleInOneRoundTrip(deps, values(entries.length), entries);
    if (closed.size === 0) {
      // Some fence failed (a run cancelled meanwhile, say): the others are recorded without it.
      closed = await deps.db.transaction(async (tx) => {
        const [row] = await postgresClient(tx).unsafe<SettleRow[]>(SETTLE_BATCH_SQL, values(0), { prepare: true });
        const ok = new Set(row.attempt_ids);
        const done = entries.filter(([, , , attemptId]) => ok.has(attemptId));
        if (done.length > 0) await recordSucceededJobs(deps, bossDb(tx), done);
        return ok;
      });
    }
  } catch {
    // Counted: the batch path is the fast one, and a statement that always fails must not hide behind this fallback.
    platformMetrics().batchSettleFallbacks.inc();
    return Promise.all(entries.map((args) => finishSucceeded(...args)));
  }
  return Promise.all(
    entries.map(([, params, run, attemptId, scope, result]) => {
      if (!closed.has(attemptId)) return finishSucceededGeneral(deps, run, attemptId, scope, result);
      if (params.jobRetryCount !== undefined) params.jobCompleted?.();
      return 'succeeded' as const;
    }),
  );
}

interface SettleRow {
  attempt_ids: string[];
}

/** SQLSTATE assert_failure: junction_expect's (migration 0021) when not every attempt of a batch passed its fence. */
const PARTIAL_FENCE = 'P0004';

/**
 * The usual batch settle in one round trip: on a reserved connection, `begin`, the settle statement
 * (expecting every attempt to pass its fence), the `run.succeeded` events, the jobs' completions and
 * `commit` are written together, without waiting for any answer in between. If a fence failed,
 * junction_expect fails the statement, the rest fail with it and `commit` rolls back: the attempt
 * ids recorded are then none (the caller settles the others on their own). Any other failure
 * throws, with everything rolled back.
 */
async function settleInOneRoundTrip(deps: RunnerDeps, values: unknown[], entries: SucceededArgs[]): Promise<Set<string>> {
  const connection = await deps.db.$client.reserve();
  const sent: Promise<unknown>[] = [];
  const send = <T extends object[]>(text: string, parameters: unknown[] = [], options?: { prepare: boolean }) => {
    const query = connection.unsafe<T>(text, parameters as postgres.ParameterOrJSON<never>[], options).execute();
    sent.push(query.catch(() => {}));
    return query;
  };
  try {
    send('begin');
    const settling = send<SettleRow[]>(SETTLE_BATCH_SQL, values, { prepare: true });
    // pg-boss writes its statements through this adapter, and `commit` goes right behind the last
    // of them: postgres.js sends a connection's queries in the order they are made.
    let statements = jobStatements(entries);
    let ending = statements === 0 ? send('commit') : undefined;
    const recording = recordSucceededJobs(
      deps,
      {
        async executeSql(text: string, parameters?: unknown[]) {
          // More statements than counted would run after the commit, outside the transaction.
          if (ending) throw new Error('pg-boss wrote more statements than the batch settle counts on');
          // Prepared where it has parameters, as bossDb does: parsed and planned anew, the jobs'
          // completion cost ~0.46 ms of the database's CPU per fetch.
          const values = parameters ?? [];
          const query = send<postgres.Row[]>(text, values.map(arrayParameter), { prepare: values.length > 0 });
          statements -= 1;
          if (statements === 0) ending = send('commit');
          return { rows: [...(await query)] };
        },
      },
      entries,
    );
    const [settled, recorded] = await Promise.allSettled([settling, recording]);
    if (!ending) {
      // pg-boss failed before writing its statements: nothing may commit.
      await send('rollback');
      throw recorded.status === 'rejected' ? recorded.reason : new Error('the batch settle sent no job statements');
    }
    const ended = await ending;
    if (settled.status === 'rejected') {
      if ((settled.reason as { code?: string }).code === PARTIAL_FENCE) return new Set();
      throw settled.reason;
    }
    if (recorded.status === 'rejected') throw recorded.reason;
    if (ended.command !== 'COMMIT') throw new Error(`the batch settle ended with ${ended.command}`);
    return new Set(settled.value[0].attempt_ids);
  } finally {
    await Promise.all(sent);
    connection.release();
  }
}

/** The jobs of recorded successes: their completions, fenced on their delivery. */
function completions(done: SucceededArgs[]) {
  return done.flatMap(([, params]) => (params.jobRetryCount === undefined ? [] : [{ id: params.jobId, retryCount: params.jobRetryCount }]));
}

/** The successes of `done` to announce (run.succeeded: see AttemptInputs.announce). */
function announcements(done: SucceededArgs[]) {
  return done.filter(([, , , , , , , announce]) => announce);
}

/** The statements recordSucceededJobs writes for `done`: the events' insert and the jobs' completion, each when there is one. */
function jobStatements(done: SucceededArgs[]): number {
  return (announcements(done).length > 0 ? 1 : 0) + (completions(done).length > 0 ? 1 : 0);
}

/** The `run.succeeded` events of the successes to announce and the completion of the jobs of all (see jobStatements). */
async function recordSucceededJobs(deps: RunnerDeps, db: BossDb, done: SucceededArgs[]): Promise<void> {
  const at = new Date().toISOString();
  const toAnnounce = announcements(done);
  const events =
    toAnnounce.length === 0
      ? undefined
      : deps.boss.insert(
          PLATFORM_EVENTS_QUEUE,
          toAnnounce.map(([, , run]) => ({
            data: {
              type: 'run.succeeded',
              at,
              integration: run.integration,
              runId: run.id,
              correlationId: run.correlationId,
            } satisfies PlatformEvent,
            ...PLATFORM_EVENT_JOB_OPTIONS,
          })),
          { db },
        );
  const jobs = completions(done);
  const completed = jobs.length > 0 ? deps.boss.complete(RUNS_QUEUE, jobs, null, { db }) : undefined;
  await Promise.all([events, completed]);
}

/**
 * settleSucceededBatch's statement (exported for the plan tests): $1 the batch, $2 its log lines,
 * $3–$5 its runs' batchKeys, $6 its attempt ids, $7 how many attempts must pass their fence (0: any).
 */
export const SETTLE_BATCH_SQL = `
  with input as (
    select * from jsonb_to_recordset($1::jsonb)
      as x(run_id uuid, created_at timestamptz, attempt_id uuid, integration text, result jsonb, has_staged boolean, staged jsonb,
           announce boolean)),
  locked as (
    select r.id, r.status from runs r join input i on r.id = i.run_id and r.created_at = i.created_at
     where ${byBatchKeys('r', '$3', '$4', '$5')}
     order by r.id for update of r),
  closed as (
    update attempts a set outcome = 'succeeded', finished_at = now()
     where ${byBatchKeys('a', '$6', '$4', '$5', 'id', 'run_created_at')} and a.outcome = 'running'
       and exists (select 1 from input i join locked l on l.id = i.run_id
                    where i.attempt_id = a.id and i.created_at = a.run_created_at and l.status <> 'cancelled'
                      and not exists (select 1 from integrations g where g.name = i.integration and g.credentials_failing_since is not null))
    returning a.id),
  succeeded as (
    update runs r set status = 'succeeded', result = i.result, error_message = null, error_class = null,
           next_attempt_at = null, finished_at = now()
      from input i
     where ${byBatchKeys('r', '$3', '$4', '$5')}
       and r.id = i.run_id and r.created_at = i.created_at and i.attempt_id in (select id from closed)
    returning r.id),
  staged_cursor as (
    insert into cursors (integration, value, run_id)
    select i.integration, i.staged, i.run_id from input i where i.has_staged and i.attempt_id in (select id from closed)
    on conflict (integration) do update set value = excluded.value, run_id = excluded.run_id, updated_at = now()),
  checkpoint_cursor as (
    insert into cursors (integration, value, run_id, updated_at)
    select r.integration, r.checkpoint, r.id, now()
      from runs r join input i on r.id = i.run_id and r.created_at = i.created_at
     where ${byBatchKeys('r', '$3', '$4', '$5')}
       and not i.has_staged and r.checkpoint is not null and not r.dry_run and i.attempt_id in (select id from closed)
    on conflict (integration) do update set value = excluded.value, run_id = excluded.run_id, updated_at = now()
     where cursors.run_id is null or cursors.run_id = excluded.run_id
        or not exists (select 1 from runs later
                        where later.id = cursors.run_id
                          and later.created_at > (select created_at from runs where id = excluded.run_id))),
  announced as (
    delete from run_recoveries p using input i
     where i.announce and p.integration = i.integration and i.attempt_id in (select id from closed)),
  logs as (
    insert into attempt_log_batches (attempt_id, run_created_at, at, offsets, levels, messages, data)
    select l.attempt_id, l.run_created_at, l.at, l.offsets::int[], l.levels, l.messages::text[], l.data
      from jsonb_to_recordset($2::jsonb)
           as l(attempt_id uuid, run_created_at timestamptz, at timestamptz, offsets text, levels text, messages text, data jsonb))
  -- One row, whatever closed holds: with $7 > 0, every attempt of the batch must have passed its fence.
  select coalesce((select array_agg(id::text) from closed), '{}') as attempt_ids,
         junction_expect($7::int = 0 or (select count(*) from closed) = $7::int,
                         'not every attempt of the batch passed its fence') as complete`;

/** The run, its integration, an attempt left 'running', its first turn and its breaker, for each id, in one round trip. */
function loadRuns(db: Database, runIds: string[]) {
  let query = loadRunsQueries.get(db);
  if (!query) {
    query = buildLoadRuns(db);
    loadRunsQueries.set(db, query);
  }
  return query.execute({ ids: runIds.join(',') });
}

/**
 * loadRuns' statement, built once per database handle and prepared (named) on each connection: a
 * batch and a single run alike look their ids up with `= any(<ids>)`. Planned anew on every call, the
 * lookup by id over every weekly partition of runs and attempts, with its four subqueries, took
 * 3–10 ms of planning per fetch (19 weeks) against ~1 ms to execute; a generic plan loses nothing,
 * since an id prunes no partition anyway. Building the query once also saves Drizzle's per-call
 * rendering.
 *
 * The ids arrive as one comma-separated text, made an array by a subquery, whose length the
 * planner does not know in a custom plan either: a custom plan then costs what the generic plan
 * costs, and PostgreSQL keeps the generic one after its five trials. With `= any($1::uuid[])`, a
 * custom plan for one id looked ten times cheaper than the generic plan, so PostgreSQL planned the
 * per-run path's load anew at every run, for ever (1–6 ms of planning per run on 2 cores under
 * load: issue 18; turn-plan.test.ts).
 */
function buildLoadRuns(db: Database) {
  return loadRunsQuery(db).prepare('load_runs');
}

/** loadRuns' query, unprepared: `ids` is a placeholder (exported for the plan tests). */
export function loadRunsQuery(db: Database) {
  return db.select(loadRunsFields()).from(runs).leftJoin(integrations, eq(integrations.name, runs.integration)).where(loadRunsById());
}

function loadRunsById() {
  return sql`${runs.id} = any(array(select unnest(string_to_array(${sql.placeholder('ids')}::text, ',')::uuid[])))`;
}

/** What loadRuns reads per run (see loadRunsQuery). */
function loadRunsFields() {
  return {
    run: runs,
    integration: integrations,
    // An attempt is opened only together with started_at (startAttempt, startAttempts): a run never
    // started has none, and skipping the lookup spares every first start a probe of the
    // 'running' attempts (an index whose dead entries pile up under load until vacuum).
    openAttemptId: sql<string | null>`(case when ${runs.startedAt} is not null then
        (select a.id from attempts a
          where a.run_id = ${runs.id} and a.run_created_at = ${runs.createdAt} and a.outcome = 'running' limit 1) end)`.as(
      'open_attempt_id',
    ),
    hasCheckpoint: sql<boolean>`${runs.checkpoint} is not null`.as('has_checkpoint'),
    firstTurn: sql<unknown>`${firstTurnJson()}`.as('first_turn'),
    breaker: sql<unknown>`${breakerRowJson(sql`${integrations.breakerKey}`)}`.as('breaker'),
    // Whether a success of this run must be announced (run.succeeded): it may close an incident.
    announce: sql<boolean>`(exists (select 1 from run_recoveries p where p.integration = ${runs.integration})
        or exists (select 1 from incidents n where n.integration = ${runs.integration} and n.kind = 'run_failed' and n.closed_at is null))`.as(
      'announce',
    ),
  };
}

/**
 * loadRuns for a fetch, with the usual first starts in the same statement (issue 18: one round
 * trip fewer between a job's delivery and its handler, on the batch path and the default worker's
 * one-job fetch alike). Every row is read from the statement's snapshot, before any start, as
 * loadRuns reads it; `startedNumber` is the attempt number when the statement started the run.
 *
 * It starts a run only where usualStart would, and more narrowly: a first start (not a retry, not
 * a dry-run, never started, so no attempt open), its job the one delivered, attempts left, its
 * integration registered here, its first turn (firstTurnJson: nothing to wait for), and its
 * breaker closed or never tripped (an open breaker past its cooldown, or half open, is left to
 * usualStart and startAttempts). And only once the attempt's liveness lock is held: the worker
 * sends its hold (liveness.ts) before this statement, on its own session, and the attempt row may
 * not commit before the lock is taken. `pg_try_advisory_xact_lock_shared` on the attempt's key
 * fails exactly while that session holds it (the key is the attempt's fresh id: nobody else
 * takes it); a run whose lock is not held yet is started by startAttempts after the hold.
 */
function loadAndStartRuns(deps: RunnerDeps, batch: RunJobParams[], attemptIds: string[]) {
  let query = loadAndStartQueries.get(deps.db);
  if (!query) {
    query = loadAndStartQuery(deps.db).prepare('load_start_runs');
    loadAndStartQueries.set(deps.db, query);
  }
  return query.execute({
    ids: batch.map((p) => p.runId).join(','),
    input: JSON.stringify(batch.map((p, i) => ({ run_id: p.runId, job_id: p.jobId, attempt_id: attemptIds[i] }))),
    worker: deps.workerId,
    registered: [...deps.registry.keys()].join(','),
  });
}

/** loadAndStartRuns' query, unprepared (exported for the tests): placeholders ids, input, worker, registered. */
export function loadAndStartQuery(db: Database) {
  const status = sql.raw(TERMINAL_RUN_STATUSES.map((s) => `'${s}'`).join(', '));
  // Each run's first turn, computed once for the start and the rows read (its two subqueries probe
  // the turn index of each week from the bound below unfinished runs on: run-order.ts).
  const turns = db.$with('turns', { id: sql<string>`id` }).as(sql`
    select ${runs.id}, ${runs.createdAt}, ${firstTurnJson()} as first_turn from runs where ${loadRunsById()}`);
  // Both writes see the runs as the main query reads them: one snapshot, before any start.
  const startedRuns = db.$with('started_runs', { id: sql<string>`id` }).as(sql`
    update runs set status = 'running', attempt_count = ${runs.attemptCount} + 1, started_at = now(), next_attempt_at = null
      from turns t, jsonb_to_recordset(${sql.placeholder('input')}::jsonb) as i(run_id uuid, job_id uuid, attempt_id uuid), integrations g
     where ${loadRunsById()} and ${runs.id} = t.id and ${runs.createdAt} = t.created_at and t.first_turn is null
       and i.run_id = t.id and ${runs.jobId} = i.job_id and g.name = ${runs.integration}
       and ${runs.integration} = any(string_to_array(${sql.placeholder('registered')}::text, ','))
       and ${runs.status} not in (${status}) and ${runs.attemptCount} < ${runs.maxAttempts}
       and ${runs.startedAt} is null and ${runs.trigger} <> 'retry' and not ${runs.dryRun}
       and not exists (select 1 from breakers b where b.key = g.breaker_key and b.state <> 'closed')
       and not pg_try_advisory_xact_lock_shared(hashtextextended(i.attempt_id::text, 0))
    returning ${runs.id}, ${runs.createdAt}, ${runs.attemptCount}, i.job_id, i.attempt_id`);
  const startedAttempts = db.$with('started_attempts', { runId: sql<string>`run_id` }).as(sql`
    insert into attempts (id, run_id, run_created_at, number, job_id, worker)
    select attempt_id, id, created_at, attempt_count, job_id::text, ${sql.placeholder('worker')}::text from started_runs
    returning run_id, number`);
  return db
    .with(turns, startedRuns, startedAttempts)
    .select({
      ...loadRunsFields(),
      firstTurn: sql<unknown>`(select t.first_turn from turns t where t.id = ${runs.id} and t.created_at = ${runs.createdAt})`.as(
        'first_turn',
      ),
      startedNumber: sql<number | null>`(select s.number from started_attempts s where s.run_id = ${runs.id})`.as('started_number'),
    })
    .from(runs)
    .leftJoin(integrations, eq(integrations.name, runs.integration))
    .where(loadRunsById());
}

const loadAndStartQueries = new WeakMap<Database, ReturnType<ReturnType<typeof loadAndStartQuery>['prepare']>>();
type LoadedStartRun = Awaited<ReturnType<typeof loadAndStartRuns>>[number];

const loadRunsQueries = new WeakMap<Database, ReturnType<typeof buildLoadRuns>>();

type LoadedRun = Awaited<ReturnType<typeof loadRuns>>[number];

/**
 * How long a run delivered ahead of an earlier, still waiting one stays off the queue: the earlier
 * one (due now, and ahead of it) is fetched in the meantime, and should its job not be due after
 * all, the later one looks again this often, not at every fetch.
 */
const BEHIND_DUE_RUN_MS = 25;

/** Everything before an attempt starts: the run's state, its turn and its breaker; a string when no attempt starts. */
async function prepareRunJob(deps: RunnerDeps, params: RunJobParams): Promise<RunJobOutcome | Omit<AttemptInputs, 'attemptId'>> {
  const { db } = deps;
  // One round trip for the run, its integration, an attempt left 'running', the run's turn (the
  // usual case) and its breaker (dispatch cost, issue 18).
  const [loaded] = await loadRuns(db, [params.runId]);
  if (!loaded) return 'missing';
  const { run, integration } = loaded;
  if (run.jobId !== params.jobId) return 'stale';

  if (isTerminalRunStatus(run.status)) {
    // Cancelled while its worker was gone: close what that worker left open.
    await db
      .update(attempts)
      .set({ outcome: 'cancelled', finishedAt: sql`now()` })
      .where(and(eq(attempts.runId, run.id), eq(attempts.outcome, 'running')));
    await db.transaction(async (tx) => {
      await tx
        .update(runs)
        .set({ finishedAt: sql`coalesce(${runs.finishedAt}, now())` })
        .where(eq(runs.id, run.id));
      // Cancelled while its attempt was running and its worker is gone: what it acknowledged becomes the cursor.
      if (run.status === 'cancelled' && run.finishedAt === null) await commitCheckpointAsCursor(tx, run);
    });
    return 'skipped';
  }

  // A delivery of the job we expected while an attempt is still 'running': its worker died and the
  // liveness sweep has not recovered it yet (or the job expired while the attempt still runs).
  // Recovered the same way, without using an attempt; a worker that still holds it keeps it.
  if (loaded.openAttemptId) {
    const recovered = await recoverLostAttempt(deps, {
      attemptId: loaded.openAttemptId,
      recoveredBy: deps.workerId,
      currentJobId: params.jobId,
    });
    return recovered === 'alive' ? 'skipped' : recovered === 'gone' ? 'stale' : 'recovered';
  }

  const def = deps.registry.get(run.integration);
  if (!def || !integration) {
    await finishFailedBeforeAttempt(deps, run, {
      message: `No handler is registered for '${run.integration}' in this worker: the integration is orphaned or the worker runs an older build`,
      errorClass: 'HandlerMissing',
      reason: 'permanent',
    });
    return 'failed';
  }
  if (run.attemptCount >= run.maxAttempts) {
    await finishFailedBeforeAttempt(deps, run, {
      message: run.errorMessage ?? 'no attempts left',
      errorClass: run.errorClass ?? 'AttemptsExhausted',
      reason: 'retries_exhausted',
    });
    return 'failed';
  }

  // Runs of an integration take turns, in the order they were requested (run-order.ts).
  const turn = isFirstTurn(run) ? turnFrom(loaded.firstTurn) : await checkTurn(db, run);
  if (turn.waitFor) {
    const waitFor = turn.waitFor;
    const deferred = await ifStillItsJob(db, async (tx) => {
      // The turn was read without a lock: the run waited for may have finished or moved since (a
      // cancel that committed meanwhile woke the runs deferred behind it before this one was).
      // Locked now, a change of it waits for this deferral's commit (and a cancel's wake-up then
      // finds this run); changed already, this run looks again now, at the head of its line.
      if (!(await stillToWaitFor(tx, waitFor))) {
        await requeue(deps, tx, run, { status: run.status === 'queued' ? 'queued' : 'deferred', ahead: true });
        return;
      }
      // Delivered ahead of an earlier run that has not started and whose job still waits (two
      // fetches raced: one skipped the earlier job while the other held its row, and the other's
      // claim then lost to this one). Both go to the head of the integration's line, the earlier
      // first (a higher priority, in the order their jobs were made), due when the earlier is: the
      // runs queued behind them are not fetched only to wait in turn, and no one waits a second.
      // Otherwise (a started run, or an earlier run whose job is gone) it looks again in a second.
      const behindDueRun =
        waitFor.started === false && waitFor.jobId
          ? (await deps.boss.update(RUNS_QUEUE, undefined, { id: waitFor.jobId, priority: 1, db: bossDb(tx) })).updated > 0
          : false;
      const startAfter = behindDueRun
        ? new Date(Math.max(Date.now() + BEHIND_DUE_RUN_MS, waitFor.nextAttemptAt?.getTime() ?? 0))
        : new Date(Math.max(Date.now() + 1_000, waitFor.nextAttemptAt?.getTime() ?? 0));
      await requeue(deps, tx, run, { status: run.status === 'queued' ? 'queued' : 'deferred', startAfter, ahead: behindDueRun });
    });
    return deferred ? 'deferred' : 'stale';
  }

  // Breaker open: wait for it without starting the handler and without using an attempt.
  const cooldownMs = parseDuration(integration.breakerCooldown);
  const deferUntil = breakerDeferralFrom(loaded.breaker, { cooldownMs });
  if (deferUntil) {
    const deferred = await ifStillItsJob(db, async (tx) => {
      await tx.insert(attempts).values({
        runId: run.id,
        runCreatedAt: run.createdAt,
        number: run.attemptCount + 1,
        jobId: params.jobId,
        worker: deps.workerId,
        outcome: 'deferred',
        errorMessage: circuitOpenMessage(integration.breakerKey, deferUntil, breakerHeldFrom(loaded.breaker)),
        errorClass: 'CircuitOpenError',
        finishedAt: sql`now()`,
      });
      await requeue(deps, tx, run, { status: 'deferred', startAfter: deferUntil, deferredBy: 'breaker' });
    });
    return deferred ? 'deferred' : 'stale';
  }
  return { run, def, integration, overtaken: turn.overtaken, mayHaveCheckpoint: loaded.hasCheckpoint, announce: loaded.announce };
}

/**
 * Locks the run a run's turn waits for (FOR SHARE: a cancel, start or finish of it waits for the
 * caller's transaction) and tells whether it is still what the turn read: not finished, due at the
 * same time (to the millisecond both reads keep), with the same job when the turn named one. Named
 * by its id and its week (created_at within the millisecond read), so one partition is planned.
 */
async function stillToWaitFor(tx: Transaction, waitFor: NonNullable<Turn['waitFor']>): Promise<boolean> {
  const from = waitFor.createdAt.toISOString();
  const to = new Date(waitFor.createdAt.getTime() + 1).toISOString();
  const [current] = await tx
    .select({ status: runs.status, nextAttemptAt: runs.nextAttemptAt, jobId: runs.jobId })
    .from(runs)
    .where(and(eq(runs.id, waitFor.id), sql`${runs.createdAt} >= ${from}::timestamptz and ${runs.createdAt} < ${to}::timestamptz`))
    .for('share');
  if (!current || !isActiveRunStatus(current.status)) return false;
  if (waitFor.jobId !== undefined && current.jobId !== waitFor.jobId) return false;
  const [was, is] = [waitFor.nextAttemptAt, current.nextAttemptAt];
  return was === null || is === null ? was === is : Math.abs(was.getTime() - is.getTime()) <= 1;
}

/** What an attempt starts from: the loaded run, its definition and integration row, the attempt id. */
interface AttemptInputs {
  run: Run;
  def: NonNullable<ReturnType<Registry['get']>>;
  integration: Integration;
  attemptId: string;
  overtaken: number;
  mayHaveCheckpoint: boolean;
  /**
   * Whether its success is announced (run.succeeded): only when it may close an incident, that is
   * its integration had a failed run since its last announced success (run_recoveries, migration
   * 0022) or has a run_failed incident open. Read when the run is loaded; alerting would discard
   * any other success, and at event rates each would be a job on the events queue.
   */
  announce: boolean;
}

/** How a successful attempt is recorded: alone (finishSucceeded) or with the others of its batch (executeRunBatch). */
type SucceededFinisher = (
  deps: RunnerDeps,
  params: RunJobParams,
  run: Run,
  attemptId: string,
  scope: AttemptScope,
  result: RunResult | undefined,
  lastLines: LogLine[],
  announce: boolean,
) => Promise<RunJobOutcome>;

async function executeAttempt(
  deps: RunnerDeps,
  params: RunJobParams,
  p: AttemptInputs,
  startedAs?: { number: number; finish: SucceededFinisher },
): Promise<RunJobOutcome> {
  const { run, attemptId } = p;
  const started = startedAs ?? (await startAttempt(deps.db, run, params.jobId, deps.workerId, attemptId));
  if (!started) return 'skipped';
  const { number } = started;
  const finish = startedAs?.finish ?? finishSucceeded;
  const metrics = platformMetrics();
  const labels = { integration: run.integration, trigger: run.trigger };
  // A run's first start, once: a released, deferred or interrupted attempt hands its number back,
  // so the next start is number 1 again (`run` is read before this start: started_at unset).
  if (run.startedAt === null) metrics.runsStarted.inc(labels);
  const startedAt = performance.now();
  // The attempt continues the trace of the request that created the run (stored traceparent).
  const attributes = {
    'junction.integration': run.integration,
    'junction.run_id': run.id,
    'junction.attempt': number,
    'junction.trigger': run.trigger,
    'junction.worker': deps.workerId,
    [CORRELATION_ATTRIBUTE]: run.correlationId,
  };
  const outcome = await withSpan('attempt', { parent: contextFromTraceparent(run.traceParent), attributes }, async (span) => {
    const result = await runAttempt(deps, params, p, number, finish);
    span.setAttribute('junction.outcome', result);
    if (result === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: 'the run failed' });
    return result;
  });
  if (outcome !== 'skipped' && outcome !== 'abandoned') {
    metrics.attemptDuration.observe({ integration: run.integration, outcome }, (performance.now() - startedAt) / 1000);
  }
  if (outcome === 'succeeded' || outcome === 'failed' || outcome === 'cancelled') metrics.runsFinished.inc({ ...labels, outcome });
  return outcome;
}

async function runAttempt(
  deps: RunnerDeps,
  params: RunJobParams,
  p: AttemptInputs,
  number: number,
  finish: SucceededFinisher,
): Promise<RunJobOutcome> {
  const { run, def, integration, attemptId } = p;
  const current: Run = { ...run, attemptCount: number };

  // The attempt's time limit (the integration row's, as loaded for this attempt: an edit applies
  // from the next attempt): aborts ctx.signal with the error the attempt fails with.
  const limitMs = attemptTimeoutMs(integration, def);
  const limit = new AbortController();
  const limitTimer = setTimeout(() => limit.abort(new AttemptTimeoutError(timeLimitMessage(number, limitMs))), limitMs);
  const signal = AbortSignal.any(params.jobSignal ? [params.control, params.jobSignal, limit.signal] : [params.control, limit.signal]);
  let scope: AttemptScope | undefined;
  let result: RunResult | undefined;
  let failure: unknown;
  let lastLines: LogLine[] = [];
  // The attempt's secrets and tokens, filled by the context: its error and log are scrubbed of them.
  const redactor = new SecretRedactor();
  try {
    scope = await createAttemptContext(deps, {
      def,
      integration,
      run: current,
      attemptId,
      attemptNumber: number,
      signal,
      mayHaveCheckpoint: p.mayHaveCheckpoint,
      redactor,
    });
    const interrupted = run.interruptions
      ? ` (after ${run.interruptions} interruption${run.interruptions === 1 ? '' : 's'}, which used no attempt)`
      : '';
    // The correlation id on the first line of every attempt: one id leads from the click or API call to
    // the run, its audit row, these logs and the X-Correlation-Id header of every outbound request.
    scope.log.info(`attempt ${number} of ${run.maxAttempts} started on ${deps.workerId}${run.dryRun ? ' (dry-run)' : ''}${interrupted}`, {
      correlationId: run.correlationId,
    });
    if (p.overtaken > 0) {
      scope.log.info(
        `started ahead of ${p.overtaken} earlier queued run${p.overtaken === 1 ? '' : 's'} of ${run.integration}: a retry an operator asked for goes first; the others follow in the order they were requested`,
      );
    }
    if (scope.resumedFrom)
      scope.log.info(`resumed from checkpoint ${JSON.stringify(scope.resumedFrom.value).slice(0, 500)}`, { checkpoint: true });
    // An integration that receives events applies its pending ones (lib/platform/intake/process.ts):
    // in an event run or a retry of one, and in every run when it has no `execute`.
    const handling =
      def.events && (run.trigger === 'event' || !def.execute || (await isRetryOfEventRun(deps.db, run)))
        ? applyPendingEvents(deps.db, {
            integration: def.name,
            events: def.events,
            ctx: scope.ctx,
            run,
            boss: deps.boss,
            redactor: scope.redactor,
          })
        : def.execute!(scope.ctx);
    result = await withinGrace(
      handling,
      { limit: limit.signal, control: params.control },
      deps.attemptTimeoutGraceMs ?? DEFAULT_ATTEMPT_TIMEOUT_GRACE_MS,
      async (why) => {
        // Its promise stays in this process: the worker's log says so, once.
        console.error(
          `[runner] run ${run.id} (${run.integration}) attempt ${number}: the handler ignored ${why === 'cancelled' ? 'the run being cancelled' : `its time limit of ${formatDuration(limitMs)}`}; no longer waited for, still running in this process`,
        );
        for (const problem of (await scope?.retire()) ?? []) console.error(`[runner] ${problem}`);
      },
    );
    // A refused checkpoint fails the attempt even when the handler caught the error.
    if (scope.refused() !== undefined) failure = scope.refused();
    if (params.control.aborted && isCancelledError(params.control.reason) && params.control.reason.reason === 'cancelled') {
      failure = params.control.reason;
    }
    // Stored as plain JSON, scrubbed like the logs; what was changed to store it is said in them.
    if (failure === undefined) {
      const stored = storableResult(result, redactor);
      result = stored.result;
      for (const note of stored.notes) scope.log.warn(note);
    }
  } catch (error) {
    // The handler's own error, unless the signal it was aborted by says why it stopped (a cancel
    // the handler did not stop for: said so).
    failure =
      error instanceof AbandonedCancelError
        ? error
        : params.control.aborted
          ? params.control.reason
          : limit.signal.aborted && !isAbandoned(error)
            ? limit.signal.reason
            : readOnlyRefusal(error)
              ? new PermanentError(
                  `the handler wrote through ctx.db, which is for reads (${readOnlyRefusal(error)!.message}): write through ctx.tx, which a dry-run rolls back and which commits only while the attempt still owns the run`,
                  { cause: error },
                )
              : error;
    if (!params.control.aborted && !limit.signal.aborted && params.jobSignal?.aborted)
      failure = new Error(`the job's claim was lost (${errorMessage(params.jobSignal.reason)})`);
    // An attempt stopped by a cancel, handed back by a stopping worker or cut off from the database
    // did not fail: its outcome is cancelled, released or interrupted (no attempt used up), and an
    // error line read as a failure in the log.
    if (isCancelledError(failure))
      scope?.log[failure.reason === 'interrupted' ? 'warn' : 'info'](`attempt ${number} stopped: ${errorMessage(failure)}`);
    else scope?.log.error(`attempt ${number} failed: ${errorMessage(failure)}`, { errorClass: errorClassName(failure) });
    // Where the handler's own unexpected error was thrown: without it a TypeError in a handler
    // named no file. Declared errors (an HTTP answer, a PermanentError) say what happened already.
    const where = failure === error && !isDeclaredError(error) && !isDatabaseUnavailableError(error) ? stackFrames(error) : null;
    if (where) scope?.log.error(`thrown at:\n${where}`);
  } finally {
    clearTimeout(limitTimer);
    // A success that is not a dry-run writes its last log lines with its outcome (finishSucceeded).
    if (failure === undefined && !run.dryRun && scope) lastLines = await scope.closeHandingOverLogs();
    else await scope?.close();
  }

  // The summary is the handler's, made storable and scrubbed like its logs above (storableResult).
  // Recording may fail in the platform (the database refusing a write may quote what it was sent):
  // that error reaches the worker's log and the job's output, scrubbed like everything else.
  try {
    if (failure === undefined) return await finish(deps, params, current, attemptId, scope!, result as RunResult, lastLines, p.announce);
    return await finishWithError(deps, current, attemptId, integration, failure, scope, redactor);
  } catch (error) {
    throw redactor.scrubError(error);
  }
}

/** The first frames of an Error's stack (not its message line), or null: what the attempt's log keeps of it. */
export function stackFrames(error: unknown, max = 10): string | null {
  if (!(error instanceof Error) || typeof error.stack !== 'string') return null;
  const frames = error.stack
    .split('\n')
    .filter((line) => /^\s+at /.test(line))
    .map((line) => line.trim());
  if (frames.length === 0) return null;
  const more = frames.length > max ? `\n(${frames.length - max} more frames)` : '';
  return frames.slice(0, max).join('\n') + more;
}

/** The error an attempt over its time limit fails with (AttemptTimeoutError). */
function timeLimitMessage(number: number, limitMs: number): string {
  return `attempt ${number} exceeded its time limit of ${formatDuration(limitMs)} (the integration's attempt time limit): ctx.signal was aborted; a handler must return, or throw when ctx.signal aborts`;
}

/** The time limit's error once the platform stopped waiting for the handler (withinGrace). */
class AbandonedAttemptError extends AttemptTimeoutError {
  readonly abandoned = true;
}

/**
 * A cancel the handler did not stop for (withinGrace): the attempt and run are recorded cancelled
 * with the operator's message and `note`, which says so.
 */
class AbandonedCancelError extends CancelledError {
  readonly abandoned = true;
  constructor(
    message: string,
    readonly note: string,
  ) {
    super(`${message}: ${note}`, 'cancelled');
  }
}

function isAbandoned(error: unknown): error is AbandonedAttemptError | AbandonedCancelError {
  return error instanceof AbandonedAttemptError || error instanceof AbandonedCancelError;
}

/**
 * The handler's outcome, unless it has not returned `graceMs` after ctx.signal was aborted by its
 * time limit (`limit`) or by an operator's cancel (`control` aborted with a CancelledError
 * 'cancelled'): then the platform stops waiting for it. `retire` is awaited first (nothing the
 * handler writes later lands, its host transactions are ended), then the attempt fails with the
 * limit's error, or is cancelled, and its turn is released. Its promise goes on in this process;
 * what it returns or throws then is ignored.
 */
function withinGrace<T>(
  handling: Promise<T>,
  signals: { limit: AbortSignal; control: AbortSignal },
  graceMs: number,
  retire: (why: 'time limit' | 'cancelled') => Promise<void>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // Once the grace is over, what the handler does is ignored, even while it is being retired
  // (ending its host transaction makes the statement it waits on fail).
  let gaveUp = false;
  const listeners: [AbortSignal, () => void][] = [];
  const gone = `It did not return within ${formatDuration(graceMs)} after it`;
  const abandoned = new Promise<never>((_resolve, reject) => {
    const stopWaiting = (why: 'time limit' | 'cancelled', error: () => Error) => {
      if (timer) return;
      timer = setTimeout(() => {
        gaveUp = true;
        retire(why)
          .catch(() => undefined)
          .finally(() => reject(error()));
      }, graceMs);
    };
    const onLimit = () =>
      stopWaiting(
        'time limit',
        () =>
          new AbandonedAttemptError(
            `${(signals.limit.reason as Error).message}. ${gone}: the platform stopped waiting for it, and what it returns or writes later is ignored or refused`,
          ),
      );
    const onControl = () => {
      const reason: unknown = signals.control.reason;
      if (!isCancelledError(reason) || reason.reason !== 'cancelled') return;
      stopWaiting(
        'cancelled',
        () =>
          new AbandonedCancelError(
            reason.message,
            `ctx.signal was aborted but the handler did not stop within ${formatDuration(graceMs)}: the platform stopped waiting for it, and what it returns or writes later is ignored or refused`,
          ),
      );
    };
    for (const [signal, listener] of [
      [signals.limit, onLimit],
      [signals.control, onControl],
    ] as const) {
      if (signal.aborted) listener();
      else {
        signal.addEventListener('abort', listener, { once: true });
        listeners.push([signal, listener]);
      }
    }
  });
  const ignored = new Promise<never>(() => {});
  const handled = handling.then(
    (value) => (gaveUp ? ignored : value),
    (error: unknown) => (gaveUp ? ignored : Promise.reject(error)),
  );
  return Promise.race([handled, abandoned]).finally(() => {
    clearTimeout(timer);
    for (const [signal, listener] of listeners) signal.removeEventListener('abort', listener);
  });
}

/**
 * Marks the run running and opens its attempt row in ONE statement (atomic like the transaction it
 * replaces, one round trip instead of four): no attempt row when the run's job moved on or the run
 * finished meanwhile. By id and created_at, the partition key: planned over one week's partition
 * instead of every week's (~1 ms of planning per start at 19 weeks).
 */
async function startAttempt(db: Database, run: Run, jobId: string, workerId: string, attemptId: string) {
  const rows = await db.execute<{ number: number }>(sql`
    with started as (
      update runs
         set status = 'running', attempt_count = attempt_count + 1,
             started_at = coalesce(started_at, now()), next_attempt_at = null
       where id = ${run.id} and created_at = ${run.createdAt.toISOString()}::timestamptz and job_id = ${jobId}
         and ${notInArray(runs.status, [...TERMINAL_RUN_STATUSES])}
      returning attempt_count, created_at
    )
    insert into attempts (id, run_id, run_created_at, number, job_id, worker)
    select ${attemptId}, ${run.id}, created_at, attempt_count, ${jobId}, ${workerId} from started
    returning number`);
  const [row] = rows;
  return row ? { attemptId, number: Number(row.number) } : null;
}

/** Fences an attempt: true when it was still 'running' (this worker still owns it). */
async function closeAttempt(
  tx: Transaction,
  attemptId: string,
  values: { outcome: 'succeeded' | 'failed' | 'deferred' | 'cancelled'; errorMessage?: string | null; errorClass?: string | null },
): Promise<boolean> {
  const closed = await tx
    .update(attempts)
    .set({ ...values, finishedAt: sql`now()` })
    .where(and(eq(attempts.id, attemptId), eq(attempts.outcome, 'running')))
    .returning({ id: attempts.id });
  return closed.length === 1;
}

async function lockRun(tx: Transaction, runId: string): Promise<Run> {
  const [row] = await tx.select().from(runs).where(eq(runs.id, runId)).for('update');
  return row;
}

function jsonSafe(value: RunResult | undefined): RunResult {
  try {
    const text = JSON.stringify(value ?? {});
    // Walked only when it holds a NUL or half a character (JSON writes them as \u0000, \ud83d): most results never do.
    return (jsonNeedsStoring(text) ? storableJson(JSON.parse(text)) : JSON.parse(text)) as RunResult;
  } catch {
    return { summary: storableText(String(value)) };
  }
}

async function emit(deps: Pick<RunnerDeps, 'boss'>, tx: Transaction, run: Run, event: PlatformEvent) {
  if (run.dryRun) return;
  await emitPlatformEvent(txEventSender(deps.boss, tx), { ...event, correlationId: run.correlationId });
}

/** Thrown inside the fast outcome transaction to roll it back when the general path must decide. */
class NotTheUsualOutcome extends Error {}

async function finishSucceeded(
  deps: RunnerDeps,
  params: RunJobParams,
  run: Run,
  attemptId: string,
  scope: AttemptScope,
  result: RunResult | undefined,
  lastLines: LogLine[] = [],
  announce = true,
): Promise<RunJobOutcome> {
  if (!run.dryRun) {
    try {
      return await finishSucceededInOneStatement(deps, params, run, attemptId, scope, result, lastLines, announce);
    } catch (error) {
      // Rolled back: the log lines it carried are written on their own, before anything else.
      await writeLogLines(deps.db, { attemptId, runCreatedAt: run.createdAt }, lastLines);
      if (!(error instanceof NotTheUsualOutcome)) throw error;
    }
  }
  return finishSucceededGeneral(deps, run, attemptId, scope, result);
}

/** A success recorded from scratch in a transaction that decides every case (cancelled meanwhile, taken over, credentials recovered, dry-run). */
function finishSucceededGeneral(
  deps: RunnerDeps,
  run: Run,
  attemptId: string,
  scope: AttemptScope,
  result: RunResult | undefined,
): Promise<RunJobOutcome> {
  return deps.db.transaction(async (tx) => {
    const locked = await lockRun(tx, run.id);
    if (locked.status === 'cancelled') {
      await closeAttempt(tx, attemptId, {
        outcome: 'cancelled',
        errorMessage: 'the run was cancelled; the handler finished anyway and only its checkpoints were committed',
        errorClass: 'Cancelled',
      });
      await tx
        .update(runs)
        .set({ finishedAt: sql`now()` })
        .where(eq(runs.id, run.id));
      await commitCheckpointAsCursor(tx, run);
      return 'cancelled';
    }
    if (!(await closeAttempt(tx, attemptId, { outcome: 'succeeded' }))) return 'abandoned';
    await tx
      .update(runs)
      .set({
        status: 'succeeded',
        result: jsonSafe(result),
        errorMessage: null,
        errorClass: null,
        nextAttemptAt: null,
        finishedAt: sql`now()`,
        ...(scope.plan ? { plan: scope.plan.requests } : {}),
      })
      .where(eq(runs.id, run.id));
    const staged = scope.stagedCursor();
    if (staged && !run.dryRun) {
      await tx
        .insert(cursors)
        .values({ integration: run.integration, value: staged.value, runId: run.id })
        .onConflictDoUpdate({ target: cursors.integration, set: { value: staged.value, runId: run.id, updatedAt: sql`now()` } });
    } else {
      await commitCheckpointAsCursor(tx, run);
    }
    const at = new Date().toISOString();
    // The uncommon cases announce every success (run.succeeded), and take the integration off the list of failures awaiting one.
    if (!run.dryRun) await tx.delete(runRecoveries).where(eq(runRecoveries.integration, run.integration));
    await emit(deps, tx, run, { type: 'run.succeeded', at, integration: run.integration, runId: run.id });
    // A run that succeeds ends a credentials incident (emitted once, by the state change).
    if (!run.dryRun) await recordCredentialsRecovered(tx, deps.boss, { integration: run.integration, correlationId: run.correlationId });
    return 'succeeded';
  });
}

/**
 * finishSucceededInOneStatement's statement (exported for the plan tests): locks the run, fences
 * the attempt on 'running', marks the run succeeded, commits its cursor and writes the attempt's
 * last log lines; one row says whether all of it happened.
 */
export function succeededStatement(input: {
  run: Pick<Run, 'id' | 'createdAt' | 'integration'>;
  attemptId: string;
  result: RunResult | undefined;
  staged: { value: unknown } | undefined;
  lastLines: LogLine[];
  announce: boolean;
}) {
  const { run, attemptId, result, staged, lastLines, announce } = input;
  // Every lookup names the run's week (the partition key). This statement is planned on each call,
  // and by id alone it was planned over every weekly partition of runs and attempts: ~11 ms a call
  // at a year of weeks on an idle machine, 130–190 ms under load (bench/README.md, 1).
  const createdAt = sql`${run.createdAt.toISOString()}::timestamptz`;
  // An announced success takes its integration off the list of failures awaiting one (migration 0022).
  const announced = announce
    ? sql`, announced as (delete from run_recoveries where integration = ${run.integration} and exists (select 1 from closed))`
    : sql``;
  const logs = lastLines.length === 0 ? sql`` : sql`, logs as (${logBatchInsert({ attemptId, runCreatedAt: run.createdAt }, lastLines)})`;
  const cursor = staged
    ? sql`insert into cursors (integration, value, run_id)
            select ${run.integration}, ${JSON.stringify(staged.value)}::jsonb, ${run.id} where exists (select 1 from closed)
          on conflict (integration) do update set value = excluded.value, run_id = excluded.run_id, updated_at = now()`
    : commitCheckpointStatement(run, sql`exists (select 1 from closed)`);
  return sql`
    with locked as (select id, status from runs where id = ${run.id} and created_at = ${createdAt} for update),
    closed as (
      update attempts set outcome = 'succeeded', finished_at = now()
       where id = ${attemptId} and run_created_at = ${createdAt} and outcome = 'running'
         and exists (select 1 from locked where status <> 'cancelled')
      returning id),
    succeeded as (
      update runs set status = 'succeeded', result = ${JSON.stringify(jsonSafe(result))}::jsonb, error_message = null,
             error_class = null, next_attempt_at = null, finished_at = now()
       where id = ${run.id} and created_at = ${createdAt} and exists (select 1 from closed)
      returning id),
    cursor as (${cursor})${announced}${logs}
    select (select status from locked) as status, exists (select 1 from closed) as closed,
           exists (select 1 from integrations where name = ${run.integration} and credentials_failing_since is not null) as credentials_failing`;
}

/**
 * The usual outcome of a run that is not a dry-run, in one transaction of three round trips: one
 * statement locks the run, fences the attempt on 'running', marks the run succeeded, commits its
 * cursor (the staged value, else its last checkpoint) and writes the attempt's last log lines; the
 * `run.succeeded` event is sent on the same transaction without waiting for that statement
 * (postgres.js pipelines them). Anything else (the run was cancelled meanwhile, the attempt was
 * taken over, credentials recovered, which sends an event of its own) rolls back and goes the
 * general way, which decides from scratch.
 */
async function finishSucceededInOneStatement(
  deps: RunnerDeps,
  params: RunJobParams,
  run: Run,
  attemptId: string,
  scope: AttemptScope,
  result: RunResult | undefined,
  lastLines: LogLine[],
  announce: boolean,
): Promise<RunJobOutcome> {
  const outcome = await deps.db.transaction(async (tx) => {
    const outcome = tx.execute<{ status: string | null; closed: boolean; credentials_failing: boolean }>(
      succeededStatement({ run, attemptId, result, staged: scope.stagedCursor(), lastLines, announce }),
    );
    const event = announce
      ? emit(deps, tx, run, { type: 'run.succeeded', at: new Date().toISOString(), integration: run.integration, runId: run.id })
      : undefined;
    // The job completes with its run (fenced on this delivery): pg-boss's own completion after the
    // handler returns then finds nothing left to do, and the integration's next job is fetchable at
    // commit. No output (the run row says how it ended): pg-boss binds it as an object, which the
    // Drizzle adapter cannot.
    const job =
      params.jobRetryCount === undefined
        ? undefined
        : deps.boss.complete(RUNS_QUEUE, { id: params.jobId, retryCount: params.jobRetryCount }, null, { db: bossDb(tx) });
    const [[row]] = await Promise.all([outcome, event, job]);
    if (!row || row.status === 'cancelled' || !row.closed || row.credentials_failing) throw new NotTheUsualOutcome();
    return 'succeeded' as const;
  });
  if (params.jobRetryCount !== undefined) params.jobCompleted?.();
  return outcome;
}

async function finishWithError(
  deps: RunnerDeps,
  run: Run,
  attemptId: string,
  integration: Integration,
  error: unknown,
  scope: AttemptScope | undefined,
  redactor: SecretRedactor,
): Promise<RunJobOutcome> {
  const classified = classifyError(error);
  const { kind } = classified;
  // Scrubbed before it is cut short; from here it reaches the attempt, the run, run.failed (alerts,
  // incidents) and the credentials error; a NUL (which text cannot hold) would keep it from being
  // recorded at all, leaving the attempt open as if its worker were gone.
  const message = storableText(redactor.scrub(errorMessage(error))).slice(0, 4000);
  const errorClass = errorClassName(error);
  const plan = scope?.plan ? { plan: scope.plan.requests } : {};

  return deps.db.transaction(async (tx): Promise<RunJobOutcome> => {
    const locked = await lockRun(tx, run.id);
    if (locked.status === 'cancelled' || (classified.kind === 'cancelled' && classified.error.reason === 'cancelled')) {
      // A handler that did not stop: the operator's message says so, on the attempt and the run.
      const note = error instanceof AbandonedCancelError ? error.note : undefined;
      const cancelMessage = note && locked.errorMessage ? storableText(`${locked.errorMessage}: ${note}`).slice(0, 4000) : undefined;
      if (
        !(await closeAttempt(tx, attemptId, {
          outcome: 'cancelled',
          errorMessage: cancelMessage ?? locked.errorMessage ?? message,
          errorClass: 'Cancelled',
        }))
      )
        return 'abandoned';
      await tx
        .update(runs)
        .set({
          status: 'cancelled',
          finishedAt: sql`now()`,
          nextAttemptAt: null,
          ...plan,
          ...(cancelMessage ? { errorMessage: cancelMessage } : {}),
        })
        .where(eq(runs.id, run.id));
      await commitCheckpointAsCursor(tx, run);
      return 'cancelled';
    }
    if ((classified.kind === 'cancelled' && classified.error.reason === 'interrupted') || isDatabaseUnavailableError(error)) {
      // The infrastructure's failure, not the handler's: recorded, and the attempt is not used up.
      const detail = kind === 'cancelled' ? message : `database unavailable: ${storableText(databaseReason(error)).slice(0, 2000)}`;
      const outcome = await interruptAttempt(deps, tx, locked, {
        attemptId,
        errorClass: 'DatabaseUnavailable',
        message: `${detail} (on ${deps.workerId}); this interruption did not use up an attempt`,
        cancelJobId: null,
      });
      return outcome === 'gone' ? 'abandoned' : outcome === 'failed' ? 'failed' : 'interrupted';
    }
    if (kind === 'cancelled') {
      // Released by a stopping worker: hand the run back without using up the attempt.
      if (!(await closeAttempt(tx, attemptId, { outcome: 'deferred', errorMessage: `released: ${message}`, errorClass })))
        return 'abandoned';
      await tx
        .update(runs)
        .set({ attemptCount: sql`${runs.attemptCount} - 1` })
        .where(eq(runs.id, run.id));
      await requeue(deps, tx, run, { status: 'queued', ahead: true });
      return 'released';
    }
    if (classified.kind === 'circuit_open') {
      const retryAt = classified.error.retryAt;
      if (!(await closeAttempt(tx, attemptId, { outcome: 'deferred', errorMessage: message, errorClass }))) return 'abandoned';
      await tx
        .update(runs)
        .set({ attemptCount: sql`${runs.attemptCount} - 1` })
        .where(eq(runs.id, run.id));
      await requeue(deps, tx, run, { status: 'deferred', startAfter: retryAt, ahead: true, deferredBy: 'breaker' });
      return 'deferred';
    }
    if (!(await closeAttempt(tx, attemptId, { outcome: 'failed', errorMessage: message, errorClass }))) return 'abandoned';
    const budget =
      kind === 'transient' && run.attemptCount < run.maxAttempts
        ? await retryBudgetStatus(tx, { integration: run.integration, budget: integration.retryBudget })
        : undefined;
    if (budget?.exhausted) {
      await failRun(deps, tx, run, {
        message: retryBudgetMessage(budget, message).slice(0, 4000),
        errorClass: 'RetryBudgetExhausted',
        reason: 'retry_budget',
        plan: scope?.plan?.requests,
      });
      return 'failed';
    }
    if (kind === 'transient' && run.attemptCount < run.maxAttempts) {
      const delays = integration.retryDelays.length ? integration.retryDelays : ['30s'];
      const delayMs = parseDuration(delays[Math.min(run.attemptCount - 1, delays.length - 1)]);
      const startAfter = new Date(Date.now() + delayMs);
      await tx
        .update(runs)
        .set({ errorMessage: message, errorClass, ...plan })
        .where(eq(runs.id, run.id));
      await requeue(deps, tx, run, { status: 'retrying', startAfter, ahead: true });
      return 'retrying';
    }
    await failRun(deps, tx, run, {
      message,
      errorClass,
      reason: kind === 'permanent' ? 'permanent' : 'retries_exhausted',
      plan: scope?.plan?.requests,
    });
    if (isCredentialsError(error) && !run.dryRun) {
      // Usually recorded already when the token request failed; this covers a handler's own CredentialsError.
      await recordCredentialsFailure(tx, deps.boss, { integration: run.integration, error: message, correlationId: run.correlationId });
    }
    return 'failed';
  });
}

/**
 * Puts the run's next attempt on the queue as a new job (now or at `startAfter`). `ahead` puts it
 * at the head of its integration's line (a higher job priority): a run that has started, as it
 * would win its turn anyway, so the runs queued behind it are not fetched only to be deferred
 * again; and a run delivered ahead of an earlier one still waiting, right behind it (prepareRunJob).
 * `deferredBy: 'breaker'` marks the job of a run an open breaker deferred, so a reset of that breaker
 * wakes it and not the runs waiting for their turn (breaker.ts).
 */
async function requeue(
  deps: Pick<RunnerDeps, 'boss'>,
  tx: Transaction,
  run: Run,
  params: { status: 'queued' | 'retrying' | 'deferred'; startAfter?: Date; ahead?: boolean; deferredBy?: 'breaker' },
) {
  const jobId = randomUUID();
  // Fenced on the job the caller read: a run re-queued meanwhile by a recovery (its worker was
  // taken for lost) is not given a second job by the worker that read it before; and on the run
  // not having finished: one cancelled meanwhile (its job stays the same) stays cancelled.
  const [updated] = await tx
    .update(runs)
    .set({ status: params.status, jobId, nextAttemptAt: params.startAfter ?? sql`now()` })
    .where(
      and(
        eq(runs.id, run.id),
        run.jobId === null ? sql`job_id is null` : eq(runs.jobId, run.jobId),
        notInArray(runs.status, [...TERMINAL_RUN_STATUSES]),
      ),
    )
    .returning({ id: runs.id });
  if (!updated) throw new StaleJobError(run.id);
  await sendRunJob(deps.boss, tx, {
    runId: run.id,
    jobId,
    integration: run.integration,
    startAfter: params.startAfter,
    priority: params.ahead ? 1 : 0,
    deferredBy: params.deferredBy,
  });
}

async function failRun(
  deps: Pick<RunnerDeps, 'boss'> & { registry?: Registry },
  tx: Transaction,
  run: Run,
  params: {
    message: string;
    errorClass: string;
    reason: 'permanent' | 'retries_exhausted' | 'retry_budget' | 'interrupted';
    plan?: PlannedRequest[];
  },
) {
  const [updated] = await tx
    .update(runs)
    .set({
      status: 'failed',
      errorMessage: params.message,
      errorClass: params.errorClass,
      nextAttemptAt: null,
      finishedAt: sql`now()`,
      ...(params.plan ? { plan: params.plan } : {}),
    })
    .where(eq(runs.id, run.id))
    .returning();
  // The run's checkpoints cover acknowledged work only: the next run starts after them.
  await commitCheckpointAsCursor(tx, run);
  // The events it leaves pending are failed with its reason, unless another run will apply them
  // (without the registry, as in a liveness recovery, only an event run or a retry of one counts
  // as applying them).
  const def = deps.registry?.get(run.integration);
  const anyTrigger = def ? Boolean(def.events && !def.execute) : false;
  const appliedEvents =
    !run.dryRun && (!def || Boolean(def.events)) && (run.trigger === 'event' || anyTrigger || (await isRetryOfEventRun(tx, run)));
  const startedAt = (updated.startedAt ?? updated.createdAt).toISOString();
  const events = appliedEvents
    ? await markEventsOfFailedRun(tx, deps.boss, {
        integration: run.integration,
        runId: run.id,
        correlationId: run.correlationId,
        attempts: updated.attemptCount,
        error: params.message,
        errorClass: params.errorClass,
        startedAt,
        anyTrigger,
      })
    : null;
  // The events it failed carry its failure (one events_failed incident, which Replay and Dismiss
  // close): no run_failed incident beside it for the same cause.
  if (events && events.marked > 0) return;
  // The next success is announced (settleSucceededBatch): it may close this failure's incident.
  if (!run.dryRun) await tx.insert(runRecoveries).values({ integration: run.integration }).onConflictDoNothing();
  await emit(deps, tx, run, {
    type: 'run.failed',
    at: new Date().toISOString(),
    integration: run.integration,
    runId: run.id,
    attempts: updated.attemptCount,
    error: params.message,
    errorClass: params.errorClass,
    reason: params.reason,
    // Its events were left to another run: if that one fails too, its events_failed is counted on this incident.
    ...(events?.leftTo && events.leftTo.count > 0 ? { pendingEvents: events.leftTo } : {}),
    // It applied the integration's events: one outage with failed events, whichever alerting handles first.
    ...(appliedEvents ? { appliesEvents: true as const } : {}),
    startedAt,
  });
}

/**
 * Fails a run when its job is delivered, before an attempt starts (no handler in this worker, no
 * attempt left), unless it has ended meanwhile. It ends without an attempt outcome, so it is
 * counted finished here, once committed and only when this worker failed it: 'failed' when it had
 * started (an earlier attempt ran), 'failed_before_start' when it never did (countFailedRun).
 */
async function finishFailedBeforeAttempt(
  deps: RunnerDeps,
  run: Run,
  params: { message: string; errorClass: string; reason: 'permanent' | 'retries_exhausted' },
): Promise<void> {
  const failed = await deps.db.transaction(async (tx) => {
    const locked = await lockRun(tx, run.id);
    if (isTerminalRunStatus(locked.status)) return undefined;
    await failRun(deps, tx, locked, params);
    return locked;
  });
  if (failed) countFailedRun(failed);
}

/**
 * Counts a run failed outside an attempt outcome in junction_runs_finished_total: 'failed' when it
 * had started (counted in junction_runs_started_total when its first attempt did), and
 * 'failed_before_start' when it never started, so started minus the finished other than
 * failed_before_start stays the runs in flight (metrics.ts).
 */
function countFailedRun(run: Pick<Run, 'integration' | 'trigger' | 'startedAt'>) {
  const outcome = run.startedAt === null ? 'failed_before_start' : 'failed';
  platformMetrics().runsFinished.inc({ integration: run.integration, trigger: run.trigger, outcome });
}

/** A run's job changed, or the run finished, since it was read: the reader's job is no longer the run's (requeue's fence). */
class StaleJobError extends Error {
  constructor(runId: string) {
    super(`run ${runId} was re-queued by another worker, or finished, meanwhile`);
    this.name = 'StaleJobError';
  }
}

/**
 * A transaction that re-queues a run it read without locking it: false (rolled back) when the run
 * was re-queued by a recovery meanwhile, its job no longer the one this worker was handed, or
 * finished meanwhile (cancelled).
 */
async function ifStillItsJob(db: Database, work: (tx: Transaction) => Promise<void>): Promise<boolean> {
  try {
    await db.transaction(work);
    return true;
  } catch (error) {
    if (error instanceof StaleJobError) return false;
    throw error;
  }
}

/** The liveness lock a worker holds on a runs-queue job it was handed (liveness.ts holdJobs). */
export function jobLivenessKey(jobId: string): string {
  return `job:${jobId}`;
}

export interface RecoveryDeps {
  db: Database;
  boss: PgBoss;
  maxInterruptions?: number;
}

/**
 * Recovers an attempt whose worker is gone: its liveness lock (liveness.ts) is free while the row
 * still says 'running'. 'alive' when a worker still holds it, 'gone' when it finished meanwhile.
 * An attempt that started before the database server last started was cut off by the database
 * (restart, crash): recorded as 'database unavailable', otherwise 'worker lost'. The dead worker's
 * job is cancelled, which frees the integration's queue slot at once (the queue lets one job per
 * integration be active), unless it is the job being delivered now (`currentJobId`).
 */
export async function recoverLostAttempt(
  deps: RecoveryDeps,
  params: { attemptId: string; recoveredBy: string; currentJobId?: string },
): Promise<'recovered' | 'failed' | 'alive' | 'gone'> {
  let lockedRun: Run | undefined;
  const outcome = await deps.db.transaction(async (tx) => {
    const [probe] = await tx.execute<{
      run_id: string;
      worker: string | null;
      job_id: string | null;
      restarted: boolean;
      free: boolean;
    }>(sql`
      select run_id, worker, job_id, started_at < pg_postmaster_start_time() as restarted,
             pg_try_advisory_xact_lock(hashtextextended(id::text, 0)) as free
        from attempts where id = ${params.attemptId} and outcome = 'running'`);
    if (!probe) return 'gone';
    if (!probe.free) return 'alive';
    const locked = await lockRun(tx, probe.run_id);
    lockedRun = locked;
    const lost = lostAttemptWords({ worker: probe.worker, recoveredBy: params.recoveredBy, restarted: probe.restarted });
    return interruptAttempt(deps, tx, locked, {
      attemptId: params.attemptId,
      errorClass: lost.errorClass,
      message: lost.message,
      cancelJobId: probe.job_id && probe.job_id !== params.currentJobId ? probe.job_id : null,
    });
  });
  // A run failed here (too many interruptions) ended without an attempt outcome of this worker:
  // counted once it is committed, as executeAttempt counts the others. Its attempts started it
  // (started_at is set with the first), so it is 'failed'; countFailedRun says so from the row.
  if (outcome === 'failed' && lockedRun) countFailedRun(lockedRun);
  return outcome;
}

/**
 * Why an attempt whose liveness lock was found free ended, as its run page says it. A worker that
 * finds its own attempt so lost its database session (cut by a restart or a terminated
 * connection: the session held the lock), and is alive: "worker lost … noticed by <itself>" read
 * as a contradiction, so it says the session was cut, as an unavailable database.
 */
export function lostAttemptWords(p: { worker: string | null; recoveredBy: string; restarted: boolean }): {
  message: string;
  errorClass: 'WorkerLost' | 'DatabaseUnavailable';
} {
  const worker = p.worker ?? 'its worker';
  const unused = 'This interruption did not use up an attempt';
  if (p.restarted)
    return {
      errorClass: 'DatabaseUnavailable',
      message: `database unavailable: the database restarted while ${worker} ran this attempt, which ended it; noticed by ${p.recoveredBy}. ${unused}`,
    };
  if (p.worker === p.recoveredBy)
    return {
      errorClass: 'DatabaseUnavailable',
      message: `database unavailable: ${worker} lost the database session that held this attempt (cut by the database: a terminated connection, a failover), which ended it; the worker noticed on its next check. ${unused}`,
    };
  return {
    errorClass: 'WorkerLost',
    message: `worker lost: ${worker} stopped (killed, crashed or cut off from the database) during this attempt; noticed by ${p.recoveredBy}. ${unused}`,
  };
}

/**
 * Recovers a runs-queue job active with no live worker (liveness.ts): its worker's lock on it is
 * free and it has been active longer than the grace a fetch needs to take that lock. The job is
 * cancelled, which frees the integration's slot at once (the queue lets one job per integration be
 * active; pg-boss's heartbeat would have noticed only after 30 s or more). When the job was still
 * its run's and no attempt of the run is running, the worker died before the attempt started: the
 * run goes back to the head of its line now, with no attempt used and nothing recorded against it
 * ('recovered'). Otherwise the run had moved on (a failed attempt's retry, a deferral, a finished
 * run) and only the job is cancelled ('released'). An attempt still running is the attempt sweep's
 * (recoverLostAttempt), fenced on its own lock ('attempt'). 'alive' when a worker holds the job.
 */
export async function recoverOrphanedJob(
  deps: Pick<RecoveryDeps, 'db' | 'boss'>,
  params: { jobId: string; runId: string | null; graceMs: number },
): Promise<'recovered' | 'released' | 'attempt' | 'alive' | 'gone'> {
  return deps.db.transaction(async (tx) => {
    // The job row first (a completion in flight is waited for), then its worker's lock.
    const [job] = await tx.execute<{ id: string }>(sql`
      select id from ${sql.identifier(BOSS_SCHEMA)}.job
       where name = ${RUNS_QUEUE} and id = ${params.jobId} and state = 'active'
         and started_on < now() - make_interval(secs => ${params.graceMs / 1000})
         for update`);
    if (!job) return 'gone';
    const [lock] = await tx.execute<{ free: boolean }>(
      sql`select pg_try_advisory_xact_lock(hashtextextended(${jobLivenessKey(params.jobId)}, 0)) as free`,
    );
    if (!lock.free) return 'alive';
    const locked = params.runId ? await lockRun(tx, params.runId) : undefined;
    const itsRun = locked && locked.jobId === params.jobId && !isTerminalRunStatus(locked.status);
    if (itsRun) {
      const [open] = await tx.execute<{ id: string }>(sql`
        select id from attempts
         where run_id = ${locked.id} and run_created_at = ${locked.createdAt.toISOString()}::timestamptz and outcome = 'running'
         limit 1`);
      if (open) return 'attempt';
    }
    await deps.boss.cancel(RUNS_QUEUE, params.jobId, { db: bossDb(tx) });
    if (!itsRun) return 'released';
    const status = locked.status === 'retrying' || locked.status === 'deferred' ? locked.status : 'queued';
    await requeue(deps, tx, locked, { status, ahead: true });
    return 'recovered';
  });
}

/**
 * Records an interrupted attempt (fenced on 'running') and gives the run its next attempt now with
 * the same number; the run fails once its interruptions reach the cap (a handler that keeps
 * killing its worker, e.g. by exhausting memory), with one `run.failed` (interrupted).
 */
async function interruptAttempt(
  deps: Pick<RecoveryDeps, 'boss' | 'maxInterruptions'>,
  tx: Transaction,
  locked: Run,
  p: { attemptId: string; errorClass: 'WorkerLost' | 'DatabaseUnavailable'; message: string; cancelJobId: string | null },
): Promise<'recovered' | 'failed' | 'gone'> {
  const [closed] = await tx
    .update(attempts)
    .set({ outcome: 'interrupted', errorMessage: p.message.slice(0, 4000), errorClass: p.errorClass, finishedAt: sql`now()` })
    .where(and(eq(attempts.id, p.attemptId), eq(attempts.outcome, 'running')))
    .returning({ number: attempts.number });
  if (!closed) return 'gone';
  if (p.cancelJobId) await deps.boss.cancel(RUNS_QUEUE, p.cancelJobId, { db: bossDb(tx) });
  if (isTerminalRunStatus(locked.status)) {
    // Cancelled while its worker was gone: nothing more to run.
    await tx
      .update(runs)
      .set({ finishedAt: sql`coalesce(${runs.finishedAt}, now())` })
      .where(eq(runs.id, locked.id));
    return 'recovered';
  }
  const interruptions = locked.interruptions + 1;
  const giveBack = closed.number === locked.attemptCount ? 1 : 0;
  const [updated] = await tx
    .update(runs)
    .set({
      attemptCount: sql`${runs.attemptCount} - ${giveBack}`,
      interruptions,
      errorMessage: p.message.slice(0, 4000),
      errorClass: p.errorClass,
    })
    .where(eq(runs.id, locked.id))
    .returning();
  const cap = deps.maxInterruptions ?? DEFAULT_MAX_INTERRUPTIONS;
  if (interruptions >= cap) {
    // Said by the last interruption's cause: a database that keeps cutting the run off (a restart,
    // a failover, terminated sessions) is not a handler that kills its worker.
    const why =
      p.errorClass === 'DatabaseUnavailable'
        ? 'the database kept cutting the run off (a restart, a failover, terminated sessions, connection slots used up); look at the database before retrying'
        : 'the run keeps stopping the workers that execute it, as a handler that exhausts memory or crashes its process does; look at the worker logs before retrying';
    await failRun(deps, tx, updated, {
      message: `interrupted ${interruptions} times (the cap is ${cap}): ${why}. Last: ${p.message}`.slice(0, 4000),
      errorClass: p.errorClass,
      reason: 'interrupted',
    });
    return 'failed';
  }
  const pause = interruptionPauseMs(interruptions);
  await requeue(deps, tx, updated, { status: 'queued', ahead: true, startAfter: pause > 0 ? new Date(Date.now() + pause) : undefined });
  return 'recovered';
}

/**
 * How long a run waits before it is tried again after its `n`th interruption: the first at once
 * (a lost worker's run goes to another), then 1 s doubling up to a minute. Without a pause a
 * database that refused connections (slots used up, a restart) saw the run interrupted again
 * within milliseconds, and the cap of 10 failed it in seconds, before the database was back
 * (7 interruptions in 3.4 s were seen); a handler that crashes its worker crashes the next one at
 * the same pace. With the default cap the run keeps being tried for about three minutes.
 */
export function interruptionPauseMs(n: number): number {
  if (n <= 1) return 0;
  return Math.min(1000 * 2 ** (n - 2), 60_000);
}
