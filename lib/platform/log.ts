import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../db/client';
import { attemptLogBatches } from '../../db/schema';
import { jsonNeedsStoring, storableJson, storableText } from './errors';
import type { SecretRedactor } from './redaction';

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
  /**
   * Lines kept per attempt (RUN_LOG_MAX_LINES, default 10,000): the first maxLines - keepLast, and
   * of the rest the last keepLast (warn and error lines win over debug and info among the older of
   * those); the others are counted per level, not stored.
   */
  maxLines?: number;
  /** Of maxLines, how many of the last lines are kept past the cap (default: a tenth, at most 1,000). */
  keepLast?: number;
  /** The attempt's secrets: every line and its data are scrubbed of them before they are kept. */
  redactor?: SecretRedactor;
}

export const DEFAULT_MAX_LOG_LINES = 10_000;

/** Lines not kept past an attempt's cap, per level. */
export type DroppedLines = Record<LogLevel, number>;

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const LETTERS: Record<LogLevel, string> = { debug: 'd', info: 'i', warn: 'w', error: 'e' };
const BY_LETTER: Record<string, LogLevel> = { d: 'debug', i: 'info', w: 'warn', e: 'error' };

type Line = LogLine;

/** Retries of the final write at close (after 100, 200, 400 ms) when it fails. */
const CLOSE_RETRIES = 3;

/**
 * ctx.log for one attempt. Lines are buffered and inserted in batches (one round trip per batch,
 * not per line; by default every 250 ms or 200 lines), each batch one row of attempt_log_batches,
 * so a handler logging in a hot loop, or once per batch of an export, does not wait on the
 * database. A write that fails is retried with the next batch, and at close a few more times;
 * logging never fails the attempt. Past maxLines lines the log keeps the last ones in memory and
 * writes them at close, with the counts of the lines it did not keep.
 */
export function createAttemptLog(
  db: Database,
  params: { attemptId: string; /** The run's created_at: the partition key of attempt_logs. */ runCreatedAt: Date } & AttemptLogOptions,
): AttemptLog {
  const flushMs = params.flushMs ?? 250;
  const maxBatch = params.maxBatch ?? 200;
  const maxLines = Math.max(1, params.maxLines ?? DEFAULT_MAX_LOG_LINES);
  const keepLast = Math.max(0, Math.min(params.keepLast ?? Math.min(1_000, Math.floor(maxLines / 10)), maxLines - 1));
  const headLines = maxLines - keepLast;
  let accepted = 0;
  // Past the first headLines lines: the latest ones, cut back to keepLast whenever they reach twice that.
  let tail: Line[] = [];
  const dropped: DroppedLines = { debug: 0, info: 0, warn: 0, error: 0 };
  let buffer: Line[] = [];
  let closed = false;
  let writing: Promise<void> = Promise.resolve();

  const write = () => {
    if (buffer.length === 0) return writing;
    const batch = buffer;
    buffer = [];
    writing = writing.then(async () => {
      try {
        await db.execute(logBatchInsert(params, batch));
      } catch {
        if (!closed) buffer = batch.concat(buffer).slice(-10 * maxBatch);
      }
    });
    return writing;
  };

  const timer = setInterval(() => void write(), flushMs);
  timer.unref();

  const redactor = params.redactor;
  const add = (level: LogLevel) => (message: string, data?: unknown) => {
    if (closed) return;
    const json = toJson(data);
    const line = redactor
      ? { level, message: redactor.scrub(String(message)), data: redactor.scrubJson(json), at: new Date() }
      : { level, message: String(message), data: json, at: new Date() };
    if (accepted < headLines) {
      accepted++;
      buffer.push(line);
      if (buffer.length >= maxBatch) void write();
    } else if (keepLast === 0) {
      dropped[level]++;
    } else {
      tail.push(line);
      if (tail.length >= 2 * keepLast) tail = keepLastLines(tail, keepLast, dropped);
    }
  };

  /** The kept tail goes out after the buffered lines: with the buffer when nothing was dropped, else as its own row. */
  const takeTail = (): { lines: Line[]; dropped: DroppedLines } | undefined => {
    const lines = keepLastLines(tail, keepLast, dropped);
    tail = [];
    if (LEVELS.every((l) => dropped[l] === 0)) {
      buffer.push(...lines);
      return undefined;
    }
    return { lines, dropped: { ...dropped } };
  };

  const close = async () => {
    clearInterval(timer);
    const last = takeTail();
    // The last lines say how the attempt ended: a final write that fails is tried again a few times.
    for (let retry = 0; ; retry++) {
      await write();
      if (buffer.length === 0 || retry === CLOSE_RETRIES) break;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** retry));
    }
    closed = true;
    if (last) await writeLogLines(db, params, last.lines, last.dropped, true);
  };

  return {
    debug: add('debug'),
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    flush: () => write(),
    close,
    async handOver() {
      // Past the cap (rare): the log writes its end itself, the caller gets nothing to write.
      if (tail.length > 0 || LEVELS.some((l) => dropped[l] > 0)) {
        await close();
        return [];
      }
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

/**
 * Cuts `lines` (in order) to `keep`, counting the others in `dropped`: the latest half always stays;
 * of the older ones, warn and error lines first, then the latest debug and info lines.
 */
function keepLastLines(lines: Line[], keep: number, dropped: DroppedLines): Line[] {
  if (lines.length <= keep) return lines;
  const older = lines.length - Math.ceil(keep / 2);
  const kept = new Uint8Array(lines.length).fill(1, older);
  let room = keep - (lines.length - older);
  for (let i = older - 1; i >= 0 && room > 0; i--) {
    if (lines[i].level === 'warn' || lines[i].level === 'error') {
      kept[i] = 1;
      room--;
    }
  }
  for (let i = older - 1; i >= 0 && room > 0; i--) {
    if (!kept[i]) {
      kept[i] = 1;
      room--;
    }
  }
  const out: Line[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (kept[i]) out.push(lines[i]);
    else dropped[lines[i].level]++;
  }
  return out;
}

/** The attempt a line belongs to, and its run's created_at (the partition key of attempt_logs). */
export interface LogTarget {
  attemptId: string;
  runCreatedAt: Date;
}

/**
 * The statement that writes lines as one row of attempt_log_batches (the writer's batches, the
 * runner's handed-over last lines inside its outcome statement): the first line's time and the
 * others' offsets in ms (none when all are 0), one letter per level, the messages as one text[], the data as one jsonb
 * array only when some line has data, and the lines not kept before these (past the cap).
 */
export function logBatchInsert(target: LogTarget, lines: LogLine[], dropped?: DroppedLines): SQL {
  const row = encodeLogBatch(lines, dropped);
  return sql`insert into attempt_log_batches (attempt_id, run_created_at, at, offsets, levels, messages, data, dropped)
    values (${target.attemptId}, ${target.runCreatedAt.toISOString()}::timestamptz, ${row.at}::timestamptz,
            ${row.offsets}::int[], ${row.levels}, ${row.messages}::text[], ${row.data === null ? null : JSON.stringify(row.data)}::jsonb,
            ${row.dropped}::int[])`;
}

/** One attempt_log_batches row's columns as text (array literals) and JSON, for logBatchInsert and the runner's batch outcome. */
export interface EncodedLogBatch {
  at: string;
  offsets: string | null;
  levels: string;
  messages: string;
  data: unknown[] | null;
  dropped: string | null;
}

export function encodeLogBatch(lines: LogLine[], dropped?: DroppedLines): EncodedLogBatch {
  const base = lines.length > 0 ? lines[0].at.getTime() : Date.now();
  let levels = '';
  let offsets = '{';
  let spread = false;
  let messages = '{';
  let hasData = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    levels += LETTERS[l.level];
    const offset = Math.max(-2_147_483_648, Math.min(2_147_483_647, l.at.getTime() - base));
    if (offset !== 0) spread = true;
    offsets += (i ? ',' : '') + offset;
    messages += (i ? ',' : '') + arrayElement(l.message);
    if (l.data !== undefined && l.data !== null) hasData = true;
  }
  return {
    at: new Date(base).toISOString(),
    offsets: spread ? offsets + '}' : null,
    levels,
    messages: messages + '}',
    data: hasData ? lines.map((l) => l.data ?? null) : null,
    dropped: dropped ? `{${LEVELS.map((l) => dropped[l]).join(',')}}` : null,
  };
}

/** A text[] literal element: quoted, backslash and quote escaped; NUL and half characters (which text cannot hold) replaced. */
function arrayElement(text: string): string {
  return `"${storableText(text).replace(/[\\"]/g, '\\$&')}"`;
}

/** Writes handed-over lines (AttemptLog.handOver), retried a few times like a log's last write; never throws. */
export async function writeLogLines(
  db: DatabaseOrTransaction,
  target: LogTarget,
  lines: LogLine[],
  dropped?: DroppedLines,
  evenIfEmpty = false,
): Promise<void> {
  if (lines.length === 0 && !evenIfEmpty) return;
  for (let retry = 0; ; retry++) {
    try {
      await db.execute(logBatchInsert(target, lines, dropped));
      return;
    } catch {
      if (retry === CLOSE_RETRIES) return;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** retry));
    }
  }
}

/** A stored line, as the console shows it. */
export interface StoredLogLine {
  /** Orders the lines of an attempt (the row's id times 2^20 plus the line's place in it), like the attempt_logs view. */
  id: number;
  attemptId: string;
  at: Date;
  level: LogLevel;
  message: string;
  data: unknown;
}

/** Lines an attempt logged past its cap and did not keep: they were between lines[before - 1] and lines[before]. */
export interface LogGap {
  before: number;
  dropped: DroppedLines;
  total: number;
}

/** A row of attempt_log_batches, as `select()` returns it. */
export type AttemptLogBatch = typeof attemptLogBatches.$inferSelect;

/**
 * The stored lines of some attempts of one run (oldest first, at most `limit` lines in all, plus
 * the kept last lines of a capped attempt) and, for an attempt that passed its cap, where lines are
 * missing and how many of each level.
 */
export async function readAttemptLogs(
  db: DatabaseOrTransaction,
  params: { attemptIds: string[]; runCreatedAt: Date; limit: number },
): Promise<Map<string, { lines: StoredLogLine[]; gap?: LogGap }>> {
  if (params.attemptIds.length === 0) return new Map();
  const rows = await db
    .select()
    .from(attemptLogBatches)
    .where(and(inArray(attemptLogBatches.attemptId, params.attemptIds), eq(attemptLogBatches.runCreatedAt, params.runCreatedAt)))
    .orderBy(asc(attemptLogBatches.id));
  return attemptLogLines(rows, params.limit);
}

/**
 * The lines of log rows in id order (readAttemptLogs; getRunDetail, which reads them in its one
 * statement), per attempt: at most `limit` lines in all, oldest first, plus the kept last lines of
 * a capped attempt, and where a capped attempt's lines are missing. A row without `dropped` whose
 * earlier rows hold `limit` lines or more in all adds nothing: a query may leave such rows out.
 */
export function attemptLogLines(rows: AttemptLogBatch[], limit: number): Map<string, { lines: StoredLogLine[]; gap?: LogGap }> {
  const out = new Map<string, { lines: StoredLogLine[]; gap?: LogGap }>();
  let left = limit;
  for (const row of rows) {
    let entry = out.get(row.attemptId);
    if (!entry) out.set(row.attemptId, (entry = { lines: [] }));
    if (row.dropped && !entry.gap) {
      const dropped = Object.fromEntries(LEVELS.map((l, i) => [l, row.dropped![i] ?? 0])) as DroppedLines;
      entry.gap = { before: entry.lines.length, dropped, total: LEVELS.reduce((n, l) => n + dropped[l], 0) };
    }
    const base = row.at.getTime();
    // The kept last lines of a capped attempt (the row that says what was not kept) come past the limit too.
    const take = row.dropped ? row.messages.length : Math.min(left, row.messages.length);
    left = Math.max(0, left - take);
    for (let i = 0; i < take; i++) {
      entry.lines.push({
        id: row.id * 1_048_576 + i + 1,
        attemptId: row.attemptId,
        at: new Date(base + (row.offsets?.[i] ?? 0)),
        level: BY_LETTER[row.levels[i]] ?? 'info',
        message: row.messages[i],
        data: row.data?.[i] ?? null,
      });
    }
  }
  return out;
}

/** Log data must survive JSON: errors become { name, message }, the rest is passed through JSON. */
function toJson(data: unknown): unknown {
  if (data === undefined) return undefined;
  if (data instanceof Error) return storableJson({ name: data.name, message: data.message });
  try {
    // A NUL or half a character (which jsonb refuses) would lose the batch of lines; among the last lines, the run's success.
    const text = JSON.stringify(data);
    return jsonNeedsStoring(text) ? storableJson(JSON.parse(text)) : JSON.parse(text);
  } catch {
    return storableText(String(data));
  }
}
