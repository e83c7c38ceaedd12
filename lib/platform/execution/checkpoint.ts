import { sql, type SQL } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { PermanentError } from '../errors';

/**
 * Durable checkpoints: a handler's progress within a run (`ctx.cursor.checkpoint(value)`), written
 * to `runs.checkpoint` at once after each acknowledged unit of work (a booked batch, an applied
 * page), so that it survives the attempt: a retried attempt of the same run resumes from it
 * (`ctx.cursor.get()` returns it) and records `attempts.resumed_from`.
 *
 * Relation to the cursor (the integration's committed watermark): a checkpoint only ever covers
 * acknowledged work, so when the run ends it becomes the cursor — succeeded, failed or cancelled
 * alike — except that on success a value staged with `ctx.cursor.set` wins. The next run starts
 * after it instead of redoing work. Dry-runs never write a checkpoint and never move the cursor.
 */

export const MAX_CHECKPOINT_BYTES = 64 * 1024;
const MAX_DEPTH = 64;

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value === 'number' ? String(value) : `a ${typeof value}`;
  const name = (value as object).constructor?.name;
  return name ? `a ${name}` : 'an object without a prototype';
}

/** What in `text` jsonb cannot store, after `subject` ("value.token holds"), or null. */
function unstorable(text: string, subject: string): string | null {
  if (text.includes('\0')) return `${subject} a NUL character (\\u0000), which PostgreSQL cannot store`;
  if (!text.isWellFormed())
    return `${subject} half of a character (an unpaired UTF-16 surrogate, as left by cutting an emoji in two), which PostgreSQL cannot store`;
  return null;
}

/** Why `value` is not plain JSON (path and reason), or null when it is. */
function notJson(value: unknown, path: string, seen: Set<object>, depth: number): string | null {
  // jsonb refuses \u0000 and half a character: a value holding one could not be written (nor the run's success with it).
  if (typeof value === 'string') return unstorable(value, `${path} holds`);
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : `${path} is ${value} (JSON has no such number)`;
  if (typeof value !== 'object') return `${path} is ${kindOf(value)}`;
  if (depth > MAX_DEPTH) return `${path} is nested deeper than ${MAX_DEPTH} levels`;
  if (seen.has(value)) return `${path} refers back to an enclosing value (circular)`;
  const proto = Object.getPrototypeOf(value);
  const isArray = Array.isArray(value);
  if (!isArray && proto !== Object.prototype && proto !== null) {
    return `${path} is ${kindOf(value)}${value instanceof Date ? ' (store value.toISOString())' : ''}`;
  }
  seen.add(value);
  try {
    if (isArray) {
      for (let i = 0; i < value.length; i++) {
        const problem = value[i] === undefined ? `${path}[${i}] is undefined` : notJson(value[i], `${path}[${i}]`, seen, depth + 1);
        if (problem) return problem;
      }
      return null;
    }
    for (const [key, child] of Object.entries(value)) {
      if (child === undefined) continue; // dropped, as JSON.stringify does
      const keyProblem = unstorable(key, `${path} has a key holding`);
      if (keyProblem) return keyProblem;
      const problem = notJson(child, `${path}.${key}`, seen, depth + 1);
      if (problem) return problem;
    }
    return null;
  } finally {
    seen.delete(value);
  }
}

/**
 * The JSON text of a checkpoint (or cursor) value. Refuses with a PermanentError naming the
 * integration when it is not plain JSON or larger than 64 KB: nothing is written.
 */
export function checkpointJson(integration: string, value: unknown, what = 'Checkpoint'): string {
  const problem = value === undefined ? 'value is undefined (pass null to clear it)' : notJson(value, 'value', new Set(), 0);
  if (problem) {
    throw new PermanentError(
      `${what} of '${integration}' is not JSON-serialisable: ${problem}. Store plain JSON (objects, arrays, strings, finite numbers, booleans, null); nothing was written.`,
    );
  }
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CHECKPOINT_BYTES) {
    throw new PermanentError(
      `${what} of '${integration}' is ${bytes} bytes of JSON, over the ${MAX_CHECKPOINT_BYTES}-byte limit: store a position (a timestamp and an id, a page token), not the records; nothing was written.`,
    );
  }
  return text;
}

/** writeCheckpoint's statement (exported for the plan tests): $1 the JSON, $2 the run, $3 the attempt, $4 the run's created_at. */
export const WRITE_CHECKPOINT = `
    update runs set checkpoint = $1::jsonb, checkpoint_at = now()
     where id = $2::uuid and created_at = $4::timestamptz
       and exists (select 1 from attempts where id = $3::uuid and run_created_at = $4::timestamptz and outcome = 'running')
    returning id`;

/**
 * Writes the checkpoint on the run, fenced on the attempt still running (a worker that lost its
 * claim cannot move a run its successor owns). False when the attempt no longer owns the run.
 * The run is named with its week (`runCreatedAt`, the partition key), as in every statement of
 * this file: by id alone, a statement is planned, locked and probed over every weekly partition.
 */
export async function writeCheckpoint(
  db: DatabaseOrTransaction,
  params: { runId: string; runCreatedAt: Date; attemptId: string; json: string },
): Promise<boolean> {
  // Written after every acknowledged batch: a named prepared statement on a pool (parsed and
  // planned once per connection, bench/README.md, 2); through Drizzle inside a transaction.
  const createdAt = params.runCreatedAt.toISOString();
  const client = (db as Partial<Database>).$client;
  if (client) {
    const rows = await client.unsafe(WRITE_CHECKPOINT, [params.json, params.runId, params.attemptId, createdAt], { prepare: true });
    return rows.length === 1;
  }
  const rows = await db.execute<{ id: string }>(sql`
    update runs set checkpoint = ${params.json}::jsonb, checkpoint_at = now()
     where id = ${params.runId} and created_at = ${createdAt}::timestamptz
       and exists (select 1 from attempts where id = ${params.attemptId} and run_created_at = ${createdAt}::timestamptz and outcome = 'running')
    returning id`);
  return rows.length === 1;
}

/**
 * Records on the attempt the checkpoint it starts from and returns it (undefined: no checkpoint,
 * the attempt starts from the integration's cursor).
 */
export async function resumeFromCheckpoint(
  db: DatabaseOrTransaction,
  params: { runId: string; runCreatedAt: Date; attemptId: string },
): Promise<{ value: unknown } | undefined> {
  const rows = await db.execute<{ resumed_from: unknown }>(resumeStatement(params));
  return rows.length ? { value: rows[0].resumed_from } : undefined;
}

/** resumeFromCheckpoint's statement (exported for the plan tests). */
export function resumeStatement(params: { runId: string; runCreatedAt: Date; attemptId: string }) {
  const createdAt = sql`${params.runCreatedAt.toISOString()}::timestamptz`;
  return sql`
    update attempts set resumed_from = r.checkpoint
      from runs r
     where attempts.id = ${params.attemptId} and attempts.run_created_at = ${createdAt}
       and r.id = ${params.runId} and r.created_at = ${createdAt} and r.checkpoint is not null and not r.dry_run
    returning attempts.resumed_from`;
}

/**
 * When a run ends (succeeded without a staged cursor, failed, cancelled): its last checkpoint, if
 * any, becomes the integration's cursor. Call it in the transaction that ends the run. Never
 * replaces a cursor committed by a run requested later (a late re-delivery cannot move it back).
 */
export async function commitCheckpointAsCursor(tx: DatabaseOrTransaction, run: { id: string; createdAt: Date }): Promise<void> {
  await tx.execute(commitCheckpointStatement(run));
}

/**
 * commitCheckpointAsCursor's statement, also part of the runner's one-statement success (exported
 * for it and the plan tests): `only` adds a condition, such as the attempt having closed.
 */
export function commitCheckpointStatement(run: { id: string; createdAt: Date }, only?: SQL) {
  const createdAt = sql`${run.createdAt.toISOString()}::timestamptz`;
  return sql`
    insert into cursors (integration, value, run_id, updated_at)
    select integration, checkpoint, id, now() from runs where id = ${run.id} and created_at = ${createdAt} and checkpoint is not null and not dry_run
      ${only ? sql`and ${only}` : sql``}
    on conflict (integration) do update set value = excluded.value, run_id = excluded.run_id, updated_at = now()
     where cursors.run_id is null or cursors.run_id = excluded.run_id
        or not exists (select 1 from runs later where later.id = cursors.run_id and later.created_at > ${createdAt})`;
}
