import { createHash } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction, Transaction } from '../../../db/client';
import { idempotencyKeys } from '../../../db/schema';
import { AppError } from '../errors';

/**
 * Idempotency-Key for mutating API requests (the IETF httpapi draft's header): a client that
 * sends the same key again — a retry after a timeout, a script run twice — gets the answer the
 * first request got instead of a second effect.
 *
 * - Scope: per user and route (method and path), so two users or two routes never share a key.
 * - Same key, same request body: the stored answer (status and body), nothing runs again.
 * - Same key, another body: refused with 422, nothing runs.
 * - Kept for IDEMPOTENCY_TTL_MS (24 h); after that the key is free again. The worker prunes old keys.
 * - Concurrency: the key row is claimed, the work done and the answer stored in ONE transaction.
 *   A concurrent request with the same key waits on the key's primary key until the first
 *   commits (then it gets the stored answer) or rolls back (then it does the work itself), so
 *   the effect and its recorded answer commit together or not at all.
 * - Only answers the caller can act on are stored (2xx and the platform's 4xx refusals); an
 *   unexpected error rolls everything back, so the client can retry with the same key.
 */

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

export const ZIdempotencyKey = z
  .string()
  .min(1, 'Idempotency-Key is empty: send 1 to 255 visible ASCII characters, e.g. a UUID')
  .max(255, 'Idempotency-Key is longer than 255 characters: send a shorter one, e.g. a UUID')
  .regex(/^[\x21-\x7e]+$/, 'Idempotency-Key may only contain visible ASCII characters (no spaces): use e.g. a UUID');

/** JSON with object keys sorted, so the same body written in another key order hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A path segment as written canonically: `accounting%2Dexport` and `accounting-export` are one route. */
function canonicalSegment(segment: string): string {
  try {
    return encodeURIComponent(decodeURIComponent(segment));
  } catch {
    return segment; // not valid percent-encoding: no route matched it, nothing to share a key with
  }
}

/**
 * The route a key is scoped to, with each path segment written one way: the same resource spelled
 * with another percent-encoding (`%2D` for `-`) reached the same handler under another scope, so a
 * retry that encoded the path differently ran the work a second time.
 */
export function canonicalRoute(route: string): string {
  return route.replace(/\/([^/\s]*)/g, (_whole, segment: string) => `/${canonicalSegment(segment)}`);
}

/** The fingerprint of a request's body, compared when a key comes back. */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('hex');
}

export interface IdempotentAnswer {
  status: number;
  body: unknown;
}

/**
 * Runs `work` at most once per (user, route, key) within the TTL and returns its answer, or the
 * stored answer of the earlier request (`replayed: true`). `work` gets the transaction: its writes
 * must go through it so they commit with the stored answer.
 */
export async function withIdempotencyKey(
  db: Database,
  params: { userId: string; route: string; key: string; requestHash: string },
  work: (tx: Transaction) => Promise<IdempotentAnswer>,
): Promise<IdempotentAnswer & { replayed: boolean }> {
  const key = ZIdempotencyKey.safeParse(params.key);
  if (!key.success) throw new AppError('invalid_input', key.error.issues[0].message);
  const ttl = sql`now() - make_interval(secs => ${IDEMPOTENCY_TTL_MS / 1000})`;
  const route = canonicalRoute(params.route);
  const where = and(eq(idempotencyKeys.userId, params.userId), eq(idempotencyKeys.route, route), eq(idempotencyKeys.key, key.data));
  return db.transaction(async (tx) => {
    // Claim: a new key, or one whose previous use has expired. status 0 = not answered yet (never
    // visible to others: the row commits only with its answer).
    const claimed = await tx
      .insert(idempotencyKeys)
      .values({ userId: params.userId, route, key: key.data, requestHash: params.requestHash, status: 0, response: {} })
      .onConflictDoUpdate({
        target: [idempotencyKeys.userId, idempotencyKeys.route, idempotencyKeys.key],
        set: { requestHash: params.requestHash, status: 0, response: {}, createdAt: sql`now()` },
        setWhere: lt(idempotencyKeys.createdAt, ttl),
      })
      .returning({ key: idempotencyKeys.key });
    if (claimed.length === 0) {
      const [stored] = await tx.select().from(idempotencyKeys).where(where);
      if (stored.requestHash !== params.requestHash) {
        throw new AppError(
          'idempotency_key_reused',
          `Idempotency-Key '${key.data.slice(0, 64)}' was already used on this route with a different request body: send a new key for a new request, or repeat the original body to get its answer.`,
        );
      }
      return { status: stored.status, body: stored.response, replayed: true };
    }
    const answer = await work(tx);
    await tx
      .update(idempotencyKeys)
      .set({ status: answer.status, response: answer.body ?? {} })
      .where(where);
    return { ...answer, replayed: false };
  });
}

/** Deletes keys older than the TTL (the worker's retention pass); returns how many. */
export async function pruneIdempotencyKeys(db: DatabaseOrTransaction): Promise<number> {
  const deleted = await db
    .delete(idempotencyKeys)
    .where(lt(idempotencyKeys.createdAt, sql`now() - make_interval(secs => ${IDEMPOTENCY_TTL_MS / 1000})`))
    .returning({ key: idempotencyKeys.key });
  return deleted.length;
}
