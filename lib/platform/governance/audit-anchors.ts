import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { verifyAuditChain } from './audit';
import { configDrift, type ConfigDriftFinding } from './config-drift';

/**
 * Signed anchors of the audit chain, kept OUTSIDE the database.
 *
 * The hash chain in audit_log (db/migrations/0001) catches a row changed behind the trigger's back,
 * but the table's owner can disable the trigger, rewrite a row, recompute every later hash with the
 * database's own audit_row_hash(), delete the tail or truncate the table: the chain is then
 * consistent again. An anchor records where the chain stood — row count, last id, head hash, time,
 * a sequence number, and the 16-hex prefix of every row's hash since the previous anchor — signed
 * with HMAC-SHA256 under JUNCTION_AUDIT_KEY, a key the database never holds. Anchors are files in
 * an append-only directory (one per anchor, created with O_EXCL, never rewritten) and, when
 * configured, a signed "audit checkpoint" message to a webhook. Whoever can rewrite the database
 * cannot rewrite these without the key, so `verifyAuditAnchors` names what changed in the rows an
 * anchor covers: the first rewritten row, the missing rows, a truncated table, a chain shorter than
 * the last anchor. Rows written after the newest anchor are covered by nothing but the chain itself
 * (the anchor interval bounds that window).
 */

export const ANCHOR_ALGORITHM = 'HMAC-SHA256';
/** Rows listed in one anchor at most: a longer stretch is split into several anchors. */
export const MAX_SEGMENT_ROWS = 10_000;
/** Hex characters of each row's hash kept in an anchor's segment (64 bits: enough to name a row). */
const PREFIX = 16;
/** pg_try_advisory_xact_lock key: one anchor writer at a time across workers (727274 migrations, 727275 chain). */
const ANCHOR_LOCK = 727276;

export interface AuditAnchor {
  version: 1;
  /** 1, 2, 3... per anchor directory. */
  seq: number;
  /** ISO time the anchor was written. */
  at: string;
  /** Rows in the chain up to and including lastId. */
  rows: number;
  /** Newest row covered (0: the table was empty). */
  lastId: number;
  /** Hash of row lastId ('genesis' when empty). */
  head: string;
  /** The rows since the previous anchor: id ranges and each row's hash prefix, in id order. */
  segment: { afterId: number; rowsBefore: number; ids: [number, number][]; hashes: string };
  alg: typeof ANCHOR_ALGORITHM;
  /** HMAC-SHA256 (hex) of the canonical JSON of every other field. */
  signature: string;
}

export type UnsignedAnchor = Omit<AuditAnchor, 'signature'>;

/**
 * JUNCTION_AUDIT_ANCHOR_DIR, or `audit-anchors` under the data folder (DATA_DIR, default .data).
 * Keep it off the database's machine, on storage the database's administrators cannot rewrite.
 */
export function anchorDirectory(env: { JUNCTION_AUDIT_ANCHOR_DIR?: string }): string {
  return path.resolve(env.JUNCTION_AUDIT_ANCHOR_DIR ?? path.join(process.env.DATA_DIR ?? '.data', 'audit-anchors'));
}

/** The audit key: 32 bytes, base64 (lib/env.ts validates it). */
export function auditKey(base64: string): Buffer {
  const key = Buffer.from(base64, 'base64');
  if (key.length !== 32) throw new Error('JUNCTION_AUDIT_KEY must be 32 bytes, base64-encoded');
  return key;
}

/** JSON with object keys sorted at every level, so a signature does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function signAnchor(anchor: UnsignedAnchor, key: Buffer): AuditAnchor {
  return { ...anchor, signature: createHmac('sha256', key).update(canonicalJson(anchor)).digest('hex') };
}

function signatureOk(anchor: Record<string, unknown>, key: Buffer): boolean {
  const { signature, ...rest } = anchor;
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false;
  const expected = createHmac('sha256', key).update(canonicalJson(rest)).digest();
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

function shapeOk(a: Record<string, unknown>): a is Record<string, unknown> & AuditAnchor {
  const seg = a.segment as AuditAnchor['segment'] | undefined;
  return (
    a.version === 1 &&
    Number.isSafeInteger(a.seq) &&
    typeof a.at === 'string' &&
    Number.isSafeInteger(a.rows) &&
    Number.isSafeInteger(a.lastId) &&
    typeof a.head === 'string' &&
    a.alg === ANCHOR_ALGORITHM &&
    !!seg &&
    Number.isSafeInteger(seg.afterId) &&
    Number.isSafeInteger(seg.rowsBefore) &&
    Array.isArray(seg.ids) &&
    typeof seg.hashes === 'string'
  );
}

const FILE = /^anchor-(\d{12})\.json$/;

export function anchorFileName(seq: number): string {
  return `anchor-${String(seq).padStart(12, '0')}.json`;
}

export interface RejectedAnchor {
  file: string;
  reason: string;
}

export interface AnchorRead {
  /** Anchors whose signature is valid, oldest first. */
  valid: AuditAnchor[];
  /** Files that are not trusted: bad signature, unreadable, or not an anchor. */
  rejected: RejectedAnchor[];
  /** Highest sequence number among the files, trusted or not (the next anchor gets one more). */
  maxSeq: number;
}

function readAnchorFile(dir: string, file: string, key: Buffer): { anchor: AuditAnchor } | { reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  } catch (error) {
    return { reason: `unreadable (${(error as Error).message.slice(0, 120)})` };
  }
  if (!parsed || typeof parsed !== 'object' || !shapeOk(parsed as Record<string, unknown>))
    return { reason: 'not an audit anchor (fields missing or of the wrong type)' };
  if (!signatureOk(parsed as Record<string, unknown>, key))
    return { reason: 'signature does not match: the file was changed, or signed with another key' };
  const anchor = parsed as AuditAnchor;
  if (file !== anchorFileName(anchor.seq)) return { reason: `file name does not match its sequence number ${anchor.seq}` };
  return { anchor };
}

function anchorFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => FILE.test(f))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Every anchor in the directory, signatures checked; an anchor with a bad signature is never trusted. */
export function readAnchors(dir: string, key: Buffer): AnchorRead {
  const valid: AuditAnchor[] = [];
  const rejected: RejectedAnchor[] = [];
  const files = anchorFiles(dir);
  for (const file of files) {
    const read = readAnchorFile(dir, file, key);
    if ('anchor' in read) valid.push(read.anchor);
    else rejected.push({ file, reason: read.reason });
  }
  return { valid, rejected, maxSeq: files.length ? Number(FILE.exec(files.at(-1)!)![1]) : 0 };
}

/** The newest trusted anchor (reads from the newest file back until one verifies). */
export function latestAnchor(dir: string, key: Buffer): { anchor: AuditAnchor | null; maxSeq: number } {
  const files = anchorFiles(dir);
  const maxSeq = files.length ? Number(FILE.exec(files.at(-1)!)![1]) : 0;
  for (const file of files.reverse()) {
    const read = readAnchorFile(dir, file, key);
    if ('anchor' in read) return { anchor: read.anchor, maxSeq };
  }
  return { anchor: null, maxSeq };
}

function toRanges(ids: number[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const id of ids) {
    const last = ranges.at(-1);
    if (last && last[1] + 1 === id) last[1] = id;
    else ranges.push([id, id]);
  }
  return ranges;
}

function fromRanges(ranges: [number, number][]): number[] {
  const ids: number[] = [];
  for (const [from, to] of ranges) for (let id = from; id <= to; id++) ids.push(id);
  return ids;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

export interface AnchorOptions {
  /** The append-only anchor directory (JUNCTION_AUDIT_ANCHOR_DIR). */
  dir: string;
  key: Buffer;
  /** Also POST a signed "audit checkpoint" message here (JUNCTION_AUDIT_ANCHOR_WEBHOOK_URL). */
  webhookUrl?: string;
  log?: (message: string) => void;
}

export type AnchorOutcome =
  { written: AuditAnchor[] } | { written: []; skipped: 'no new rows' | 'another process is anchoring' } | { written: []; refused: string };

/**
 * Writes anchors for every row since the newest trusted anchor (several when more than
 * MAX_SEGMENT_ROWS). Before anchoring, the rows since that anchor are checked against it: a chain
 * that no longer matches the last anchor is never anchored (that would bless the tampering); the
 * full verification reports it instead.
 */
export async function writeAuditAnchor(db: Database, options: AnchorOptions): Promise<AnchorOutcome> {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const outcome = await db.transaction(async (tx): Promise<AnchorOutcome> => {
    const [lock] = await tx.execute<{ locked: boolean }>(sql`select pg_try_advisory_xact_lock(${ANCHOR_LOCK}) as locked`);
    if (!lock.locked) return { written: [], skipped: 'another process is anchoring' };
    const { anchor: previous, maxSeq } = latestAnchor(options.dir, options.key);
    let after = previous ? { id: previous.lastId, head: previous.head, rows: previous.rows } : { id: 0, head: 'genesis', rows: 0 };
    if (previous && previous.lastId > 0) {
      const [row] = await tx.execute<{ hash: string }>(sql`select hash from audit_log where id = ${previous.lastId}`);
      if (!row || row.hash !== previous.head) {
        return {
          written: [],
          refused: `row ${previous.lastId} no longer matches anchor #${previous.seq}: not anchoring a tampered chain (run the full verification)`,
        };
      }
    }
    const chain = await verifyAuditChain(tx, { after: { id: after.id, hash: after.head } });
    if (!chain.ok) return { written: [], refused: `${chain.brokenAt.reason}: not anchoring a broken chain` };
    if (chain.rows === 0) return { written: [], skipped: 'no new rows' };

    const written: AuditAnchor[] = [];
    let seq = maxSeq;
    for (;;) {
      const rows = await tx.execute<{ id: string | number; hash: string }>(
        sql`select id, hash from audit_log where id > ${after.id} order by id limit ${MAX_SEGMENT_ROWS}`,
      );
      if (rows.length === 0) break;
      const ids = rows.map((r) => Number(r.id));
      const last = rows[rows.length - 1];
      seq += 1;
      const anchor = signAnchor(
        {
          version: 1,
          seq,
          at: new Date().toISOString(),
          rows: after.rows + rows.length,
          lastId: Number(last.id),
          head: last.hash,
          segment: {
            afterId: after.id,
            rowsBefore: after.rows,
            ids: toRanges(ids),
            hashes: rows.map((r) => r.hash.slice(0, PREFIX)).join(''),
          },
          alg: ANCHOR_ALGORITHM,
        },
        options.key,
      );
      // 'wx': created, never overwritten; 0o440: nobody writes it afterwards by accident.
      writeFileSync(path.join(options.dir, anchorFileName(seq)), `${JSON.stringify(anchor)}\n`, { flag: 'wx', mode: 0o440 });
      written.push(anchor);
      after = { id: anchor.lastId, head: anchor.head, rows: anchor.rows };
      if (rows.length < MAX_SEGMENT_ROWS) break;
    }
    const newest = written.at(-1);
    if (newest) {
      await tx.execute(
        sql`update audit_chain_state set anchor_seq = ${newest.seq}, anchor_at = ${newest.at}::timestamptz, anchor_last_id = ${newest.lastId} where id = 1`,
      );
    }
    return { written };
  });
  const newest = outcome.written.at(-1);
  // After the transaction: a slow webhook never holds the anchor lock. The file is the record.
  if (newest && options.webhookUrl) await postCheckpoint(options.webhookUrl, newest, options.key, options.log);
  return outcome;
}

/** The "audit checkpoint" message: the anchor without its row list, signed as a whole. */
export function checkpointMessage(anchor: AuditAnchor, key: Buffer): { body: string; signature: string } {
  const body = JSON.stringify({
    type: 'audit.checkpoint',
    seq: anchor.seq,
    at: anchor.at,
    rows: anchor.rows,
    lastId: anchor.lastId,
    head: anchor.head,
    anchorSignature: anchor.signature,
  });
  return { body, signature: `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}` };
}

async function postCheckpoint(url: string, anchor: AuditAnchor, key: Buffer, log?: (message: string) => void): Promise<void> {
  const { body, signature } = checkpointMessage(anchor, key);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-junction-audit-signature': signature, 'user-agent': 'junction-audit' },
      body,
      // Followed, a 301/302/303 turns the POST into a GET without the message (the receiver's 200
      // then reads as delivered) and a 307/308 sends the audit heads wherever it points: not followed.
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    await res.body?.cancel();
    if (res.status >= 300 && res.status < 400) {
      log?.(
        `audit checkpoint #${anchor.seq} not sent: the webhook answered HTTP ${res.status}, a redirect${redirectTarget(res.headers.get('location'), url)}, which is not followed; set JUNCTION_AUDIT_ANCHOR_WEBHOOK_URL to the address that receives it. The anchor file is written`,
      );
    } else if (!res.ok)
      log?.(`audit checkpoint #${anchor.seq} not accepted by the webhook (HTTP ${res.status}); the anchor file is written`);
  } catch (error) {
    log?.(`audit checkpoint #${anchor.seq} not sent to the webhook (${(error as Error).message}); the anchor file is written`);
  }
}

/** Where a redirect points, by origin only: the rest of a webhook address may be its secret. */
function redirectTarget(location: string | null, base: string): string {
  if (!location) return '';
  try {
    return ` to ${new URL(location, base).origin}`;
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

export type AuditFinding =
  | { kind: 'rewritten'; rowId: number; anchorSeq: number; message: string }
  | { kind: 'missing'; rowIds: number[]; anchorSeq: number; message: string }
  | { kind: 'truncated'; anchorSeq: number; message: string }
  | { kind: 'shorter'; lastId: number; anchorLastId: number; missingRowIds: number[]; anchorSeq: number; message: string }
  | { kind: 'chain'; rowId: number; message: string }
  | { kind: 'bad_anchor'; file: string; message: string }
  /** Not the trail: configuration stored differently from what the trail says was saved (config-drift.ts). */
  | ConfigDriftFinding;

export interface AuditVerification {
  ok: boolean;
  /** Rows in the table now. */
  rows: number;
  lastId: number;
  head: string | null;
  /** Trusted anchors compared, and the newest of them. */
  anchors: number;
  latestAnchor: { seq: number; at: string; lastId: number; rows: number } | null;
  findings: AuditFinding[];
}

function idList(ids: number[]): string {
  if (ids.length <= 10) return ids.join(', ');
  return `${ids.slice(0, 10).join(', ')} and ${ids.length - 10} more`;
}

/** Compares the rows of one anchor's segment with the table: the rows that are gone, and the first rewritten one. */
async function compareSegment(db: DatabaseOrTransaction, anchor: AuditAnchor): Promise<AuditFinding[]> {
  const ids = fromRanges(anchor.segment.ids);
  const rows = await db.execute<{ id: string | number; hash: string }>(
    sql`select id, hash from audit_log where id > ${anchor.segment.afterId} and id <= ${anchor.lastId} order by id`,
  );
  const actual = new Map(rows.map((r) => [Number(r.id), r.hash.slice(0, PREFIX)]));
  const missing = ids.filter((id) => !actual.has(id));
  let rewritten: number | null = null;
  const recorded = (i: number) => anchor.segment.hashes.slice(i * PREFIX, (i + 1) * PREFIX);
  for (let i = 0; i < ids.length; i++) {
    const hash = actual.get(ids[i]);
    if (hash !== undefined && hash !== recorded(i)) {
      rewritten = ids[i];
      break;
    }
  }
  const inserted = [...actual.keys()].filter((id) => !ids.includes(id));
  const findings: AuditFinding[] = [];
  if (missing.length > 0) {
    findings.push({
      kind: 'missing',
      rowIds: missing,
      anchorSeq: anchor.seq,
      message: `rows missing: audit row${missing.length > 1 ? 's' : ''} ${idList(missing)} recorded by anchor #${anchor.seq} ${missing.length > 1 ? 'are' : 'is'} gone from the table`,
    });
  }
  // A row after a deleted one is re-linked (re-hashed) to hide the gap: that is the deletion, not a separate rewrite.
  if (rewritten !== null && (missing.length === 0 || rewritten < missing[0])) {
    findings.push({
      kind: 'rewritten',
      rowId: rewritten,
      anchorSeq: anchor.seq,
      message:
        anchor.segment.afterId === 0 && rewritten === ids[0] && ids.every((id, i) => actual.get(id) !== recorded(i))
          ? `rows rewritten from the start: audit row ${rewritten}, the first the anchors recorded, no longer has the hash anchor #${anchor.seq} recorded, nor does any other row of it. Either the whole trail was rewritten, or this database is not the one the anchor directory was written for (restored from elsewhere, recreated); if it was replaced on purpose, move the old anchor files out of JUNCTION_AUDIT_ANCHOR_DIR and keep them: the next anchor starts from this trail`
          : `rows rewritten: audit row ${rewritten} no longer has the hash anchor #${anchor.seq} recorded (first bad row; every later hash was recomputed to hide it)`,
    });
  }
  if (inserted.length > 0) {
    findings.push({
      kind: 'rewritten',
      rowId: inserted[0],
      anchorSeq: anchor.seq,
      message: `rows rewritten: audit row ${idList(inserted)} is not among the rows anchor #${anchor.seq} recorded (inserted into the past)`,
    });
  }
  if (findings.length === 0) {
    findings.push({
      kind: 'rewritten',
      rowId: anchor.lastId,
      anchorSeq: anchor.seq,
      message: `rows rewritten: audit row ${anchor.lastId} no longer has the head hash anchor #${anchor.seq} recorded`,
    });
  }
  return findings;
}

/**
 * The full verification: the chain recomputed row by row in Node (verifyAuditChain: not with
 * audit_row_hash(), which the table's owner could replace), the table compared with every trusted
 * anchor in the directory, and the configuration in force compared with the trail's last values
 * (config-drift.ts: a change written around the config service has no audit row). Names what it
 * finds; `ok` only when nothing.
 */
export async function verifyAuditAnchors(db: DatabaseOrTransaction, params: { dir: string; key: Buffer }): Promise<AuditVerification> {
  const read = readAnchors(params.dir, params.key);
  const findings: AuditFinding[] = read.rejected.map((r) => ({
    kind: 'bad_anchor' as const,
    file: r.file,
    message: `anchor file ${r.file} is not trusted: ${r.reason}`,
  }));
  const [stats] = await db.execute<{ rows: number; last_id: string | number | null }>(
    sql`select count(*)::int as rows, max(id) as last_id from audit_log`,
  );
  const rows = Number(stats.rows);
  const lastId = Number(stats.last_id ?? 0);
  const chain = await verifyAuditChain(db);
  if (!chain.ok) findings.push({ kind: 'chain', rowId: chain.brokenAt.id, message: chain.brokenAt.reason });
  // Listed after what is wrong with the trail itself, which is said first.
  const drift = await configDrift(db);
  const latest = read.valid.at(-1) ?? null;
  const result = (): AuditVerification => ({
    ok: findings.length === 0 && drift.length === 0,
    rows,
    lastId,
    head: chain.ok ? chain.head : null,
    anchors: read.valid.length,
    latestAnchor: latest && { seq: latest.seq, at: latest.at, lastId: latest.lastId, rows: latest.rows },
    findings: [...findings, ...drift],
  });
  if (!latest || latest.rows === 0) return result();

  if (rows === 0) {
    findings.push({
      kind: 'truncated',
      anchorSeq: latest.seq,
      message: `table truncated: audit_log is empty, but anchor #${latest.seq} (${latest.at}) recorded ${latest.rows} rows up to row ${latest.lastId}`,
    });
    return result();
  }
  if (lastId < latest.lastId) {
    const gone = read.valid.flatMap((a) => fromRanges(a.segment.ids)).filter((id) => id > lastId);
    findings.push({
      kind: 'shorter',
      lastId,
      anchorLastId: latest.lastId,
      missingRowIds: gone,
      anchorSeq: latest.seq,
      message: `chain shorter than the last anchor: it ends at row ${lastId} (${rows} rows), anchor #${latest.seq} (${latest.at}) recorded rows up to ${latest.lastId} (${latest.rows} rows); the tail (rows ${idList(gone)}) was deleted`,
    });
  }

  // The first anchor whose head row no longer matches bounds the damage: every row before the
  // previous anchor's head is unchanged (the chain links them to a head that still matches).
  const covered = read.valid.filter((a) => a.lastId > 0 && a.lastId <= lastId);
  if (covered.length > 0) {
    const heads = await db.execute<{ id: string | number; hash: string }>(
      sql`select id, hash from audit_log where id = any(${`{${covered.map((a) => a.lastId).join(',')}}`}::bigint[])`,
    );
    const hashOf = new Map(heads.map((h) => [Number(h.id), h.hash]));
    const firstBad = covered.find((a) => hashOf.get(a.lastId) !== a.head);
    if (firstBad) findings.push(...(await compareSegment(db, firstBad)));
  }
  // The tail was cut inside a segment: the anchor covering the cut names what went before it.
  const cut = read.valid.find((a) => a.lastId > lastId && a.segment.afterId < lastId);
  if (cut && !findings.some((f) => f.kind === 'missing' || f.kind === 'rewritten')) {
    const partial = await compareSegment(db, { ...cut, lastId });
    findings.push(...partial.filter((f) => f.kind === 'rewritten' && f.rowId !== lastId));
  }
  return result();
}
