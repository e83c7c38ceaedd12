import { and, desc, eq, ilike, inArray, lt, or, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { webhookEvents, webhookRejections, type WebhookEventStatus } from '../../../db/schema';
import type { EventsDeclaration } from '../contract';
import { AppError } from '../errors';
import { recordAction } from '../governance/audit';
import { ZUrlText } from '../params';
import { ensureEventRun } from './intake';

/**
 * What the console's Events tab reads (received, duplicates, refused with reasons, processing
 * state, payloads with declared keys redacted) and the replay it offers: events set back to
 * pending and applied again by the integration's event run, so a replay goes through the runner
 * (its order, retries and breaker: while the breaker is open the run waits for it) and is audited.
 */

export const EVENT_STATUSES = ['pending', 'processed', 'stale', 'failed'] as const satisfies readonly WebhookEventStatus[];

export const ZEventFilter = z.object({
  status: z.enum(EVENT_STATUSES).optional(),
  type: ZUrlText(200).optional(),
  /** Part of the event id or ordering key. */
  q: ZUrlText(200).optional(),
  /** Keyset: events with a smaller id than this. */
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type EventFilter = z.infer<typeof ZEventFilter>;

export interface EventCounts {
  received: number;
  duplicates: number;
  rejected: number;
  byStatus: Record<WebhookEventStatus, number>;
  rejectedByReason: { reason: string; status: number; count: number }[];
}

export async function eventCounts(db: DatabaseOrTransaction, integration: string): Promise<EventCounts> {
  const [row] = await db
    .select({
      received: sql<number>`count(*)::int`,
      duplicates: sql<number>`coalesce(sum(${webhookEvents.duplicates}), 0)::int`,
      pending: sql<number>`count(*) filter (where ${webhookEvents.status} = 'pending')::int`,
      processed: sql<number>`count(*) filter (where ${webhookEvents.status} = 'processed')::int`,
      stale: sql<number>`count(*) filter (where ${webhookEvents.status} = 'stale')::int`,
      failed: sql<number>`count(*) filter (where ${webhookEvents.status} = 'failed')::int`,
    })
    .from(webhookEvents)
    .where(eq(webhookEvents.integration, integration));
  const reasons = await db
    .select({ reason: webhookRejections.reason, status: webhookRejections.status, count: sql<number>`count(*)::int` })
    .from(webhookRejections)
    .where(eq(webhookRejections.integration, integration))
    .groupBy(webhookRejections.reason, webhookRejections.status)
    .orderBy(desc(sql`count(*)`));
  return {
    received: row.received,
    duplicates: row.duplicates,
    rejected: reasons.reduce((n, r) => n + r.count, 0),
    byStatus: { pending: row.pending, processed: row.processed, stale: row.stale, failed: row.failed },
    rejectedByReason: reasons,
  };
}

function filterWhere(integration: string, f: Omit<EventFilter, 'limit' | 'before'>) {
  const like = f.q ? `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : undefined;
  return and(
    eq(webhookEvents.integration, integration),
    f.status ? eq(webhookEvents.status, f.status) : undefined,
    f.type ? eq(webhookEvents.eventType, f.type) : undefined,
    like ? or(ilike(webhookEvents.eventId, like), ilike(webhookEvents.orderingKey, like)) : undefined,
  );
}

/** Replaces the value of every declared key (at any depth) with '[redacted]'. */
export function redactPayload(payload: unknown, keys: readonly string[] | undefined): unknown {
  const hidden = new Set((keys ?? []).map((k) => k.toLowerCase()));
  const walk = (value: unknown, depth: number): unknown => {
    if (depth > 32) return '[too deep]';
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1));
    if (value && typeof value === 'object')
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, hidden.has(k.toLowerCase()) ? '[redacted]' : walk(v, depth + 1)]),
      );
    return value;
  };
  return walk(payload, 0);
}

export async function listEvents(
  db: DatabaseOrTransaction,
  integration: string,
  filter: EventFilter,
  events?: Pick<EventsDeclaration, 'redact'>,
) {
  const rows = await db
    .select()
    .from(webhookEvents)
    .where(and(filterWhere(integration, filter), filter.before ? lt(webhookEvents.id, filter.before) : undefined))
    .orderBy(desc(webhookEvents.id))
    .limit(filter.limit + 1);
  const page = rows.slice(0, filter.limit).map((r) => ({ ...r, payload: redactPayload(r.payload, events?.redact) }));
  return { rows: page, nextBefore: rows.length > filter.limit ? page.at(-1)!.id : null };
}

export async function listRejections(db: DatabaseOrTransaction, integration: string, limit = 20) {
  return db
    .select()
    .from(webhookRejections)
    .where(eq(webhookRejections.integration, integration))
    .orderBy(desc(webhookRejections.id))
    .limit(limit);
}

export const MAX_REPLAY = 1_000;

/**
 * Sets the chosen events (by id, or every event matching a filter, at most MAX_REPLAY) back to
 * pending and makes sure an event run applies them, in one transaction with its audit row.
 */
export async function replayEvents(
  db: Database,
  boss: PgBoss,
  params: { integration: string; eventIds?: string[]; filter?: Omit<EventFilter, 'limit' | 'before'>; actor: string; reason?: string },
): Promise<{ replayed: number; runId: string | null }> {
  if (!params.eventIds?.length && !params.filter) throw new AppError('invalid_input', 'Choose events to replay: one event, or a filter');
  return db.transaction(async (tx) => {
    const where = params.eventIds?.length
      ? and(eq(webhookEvents.integration, params.integration), inArray(webhookEvents.eventId, params.eventIds))
      : filterWhere(params.integration, params.filter!);
    const chosen = await tx
      .select({ id: webhookEvents.id })
      .from(webhookEvents)
      .where(and(where, sql`${webhookEvents.status} <> 'pending'`))
      .orderBy(webhookEvents.id)
      .limit(MAX_REPLAY + 1)
      .for('update');
    if (chosen.length === 0)
      throw new AppError('invalid_state', 'No event to replay: the chosen events are pending already or do not exist');
    if (chosen.length > MAX_REPLAY)
      throw new AppError(
        'invalid_input',
        `That filter matches more than ${MAX_REPLAY} events: narrow it (status, type, id) and replay in parts`,
      );
    const ids = chosen.map((c) => c.id);
    await tx
      .update(webhookEvents)
      .set({ status: 'pending', outcome: null, processedAt: null, replays: sql`${webhookEvents.replays} + 1` })
      .where(inArray(webhookEvents.id, ids));
    const runId = await ensureEventRun(tx, boss, params.integration);
    await recordAction(tx, {
      actor: params.actor,
      integration: params.integration,
      action: 'events.replay',
      details: {
        count: ids.length,
        ...(params.eventIds?.length ? { eventIds: params.eventIds.slice(0, 20) } : { filter: params.filter }),
        ...(params.reason ? { reason: params.reason } : {}),
        runId,
      },
    });
    return { replayed: ids.length, runId };
  });
}
