import type { Database } from '../../db/client';
import { attemptLogs } from '../../db/schema';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface RunLogger {
  debug(message: string, data?: unknown): void;
  info(message: string, data?: unknown): void;
  warn(message: string, data?: unknown): void;
  error(message: string, data?: unknown): void;
}

export interface AttemptLog extends RunLogger {
  /** Writes everything buffered so far. */
  flush(): Promise<void>;
  /** Flushes and stops the timer; later lines are dropped. */
  close(): Promise<void>;
  /**
   * Like close, but the lines not written yet are returned instead of written: the caller writes
   * them with its own statement (the runner, with the attempt's outcome) or with writeLogLines.
   */
  handOver(): Promise<LogLine[]>;
}

/** A buffered line of an attempt's log, as handed over by AttemptLog.handOver. */
export interface LogLine {
  level: LogLevel;
  message: string;
  data: unknown;
  at: Date;
}

export interface AttemptLogOptions {
  /** Buffered lines are written at least this often. */
  flushMs?: number;
  /** A batch this large is written at once. */
  maxBatch?: number;
}

type Line = LogLine;

/** Retries of the final write at close (after 100, 200, 400 ms) when it fails. */
const CLOSE_RETRIES = 3;

/**
 * ctx.log for one attempt. Lines are buffered and inserted in batches (one round trip per batch,
 * not per line; by default every 250 ms or 200 lines), so a handler logging in a hot loop, or once
 * per batch of an export, does not wait on the database. A write that fails is retried with the
 * next batch, and at close a few more times; logging never fails the attempt.
 */
export function createAttemptLog(
  db: Database,
  params: { attemptId: string; /** The run's created_at: the partition key of attempt_logs. */ runCreatedAt: Date } & AttemptLogOptions,
): AttemptLog {
  const flushMs = params.flushMs ?? 250;
  const maxBatch = params.maxBatch ?? 200;
  let buffer: Line[] = [];
  let closed = false;
  let writing: Promise<void> = Promise.resolve();

  const write = () => {
    if (buffer.length === 0) return writing;
    const batch = buffer;
    buffer = [];
    writing = writing.then(async () => {
      try {
        await insertLines(db, params, batch);
      } catch {
        if (!closed) buffer = batch.concat(buffer).slice(-10 * maxBatch);
      }
    });
    return writing;
  };

  const timer = setInterval(() => void write(), flushMs);
  timer.unref();

  const add = (level: LogLevel) => (message: string, data?: unknown) => {
    if (closed) return;
    buffer.push({ level, message: String(message), data: toJson(data), at: new Date() });
    if (buffer.length >= maxBatch) void write();
  };

  return {
    debug: add('debug'),
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    flush: () => write(),
    async close() {
      clearInterval(timer);
      // The last lines say how the attempt ended: a final write that fails is tried again a few times.
      for (let retry = 0; ; retry++) {
        await write();
        if (buffer.length === 0 || retry === CLOSE_RETRIES) break;
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** retry));
      }
      closed = true;
    },
    async handOver() {
      clearInterval(timer);
      // A write in flight finishes first (its lines come before these); a failed one is put back.
      await writing;
      closed = true;
      const lines = buffer;
      buffer = [];
      return lines;
    },
  };
}

/** The attempt a line belongs to, and its run's created_at (the partition key of attempt_logs). */
export interface LogTarget {
  attemptId: string;
  runCreatedAt: Date;
}

function insertLines(db: Database, target: LogTarget, lines: Line[]) {
  const { attemptId, runCreatedAt } = target;
  return db
    .insert(attemptLogs)
    .values(lines.map((l) => ({ attemptId, runCreatedAt, level: l.level, message: l.message, data: l.data ?? null, at: l.at })));
}

/** Writes handed-over lines (AttemptLog.handOver), retried a few times like a log's last write; never throws. */
export async function writeLogLines(db: Database, target: LogTarget, lines: LogLine[]): Promise<void> {
  for (let retry = 0; lines.length > 0; retry++) {
    try {
      await insertLines(db, target, lines);
      return;
    } catch {
      if (retry === CLOSE_RETRIES) return;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** retry));
    }
  }
}

/** The lines as one JSON array for `jsonb_to_recordset` (see the runner's outcome statement). */
export function logLinesJson(lines: LogLine[]): string {
  return JSON.stringify(lines.map((l) => ({ at: l.at.toISOString(), level: l.level, message: l.message, data: l.data ?? null })));
}

/** Log data must survive JSON: errors become { name, message }, the rest is passed through JSON. */
function toJson(data: unknown): unknown {
  if (data === undefined) return undefined;
  if (data instanceof Error) return { name: data.name, message: data.message };
  try {
    return JSON.parse(JSON.stringify(data));
  } catch {
    return String(data);
  }
}
