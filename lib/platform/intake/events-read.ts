import { randomUUID } from 'node:crypto';
import { and, desc, eq, ilike, inArray, lt, or, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { bulkOperations, webhookEvents, webhookRejections, type WebhookEventStatus } from '../../../db/schema';
import type { EventsDeclaration } from '../contract';
import { parseDuration, zDuration } from '../duration';
import { AppError } from '../errors';
import { insertRun, loadIntegration } from '../execution/run-create';
import { recordAction } from '../governance/audit';
import { ZUrlText, ZUrlWholeNumber } from '../params';
import { DEFAULT_BULK_PACE } from '../triggers/bulk';
import { dispatchIntegration } from '../triggers/bulk-dispatch';
import { eventRunWaits } from './waiting';

/**
 * What the console's Events tab reads (received, duplicates, refused with reasons, processing
 * state, payloads with declared keys redacted) and the replay it offers: events set back to
 * pending and applied again through the runner by held event runs released at bulk retry's pace
 * and not while the breaker is open (replayEvents), audited.
 */

export const EVENT_STATUSES = ['pending', 'processed', 'stale', 'failed', 'dismissed'] as const satisfies readonly WebhookEventStatus[];

export const ZEventFilter = z.object({
  status: z.enum(EVENT_STATUSES).optional(),
  type: ZUrlText(200).optional(),
  /** Part of the event id or ordering key. */
  q: ZUrlText(200).optional(),
  /** Keyset: events with a smaller id than this. */
  before: ZUrlWholeNumber(1, Number.MAX_SAFE_INTEGER).optional(),
  limit: ZUrlWholeNumber(1, 200).default(50),
});
export type EventFilter = z.infer<typeof ZEventFilter>;

export interface EventCounts {
  received: number;
  duplicates: number;
  rejected: number;
  byStatus: Record<WebhookEventStatus, number>;
  rejectedByReason: { reason: string; status: number; count: number }[];
  /** Pending events no run will apply (their run was cancelled): they wait for a Replay (waiting.ts). */
  waitingWithoutRun: number;
}

/** `anyTrigger`: the integration has no `execute`, so any run applies its events (waiting.ts). */
export async function eventCounts(
  db: DatabaseOrTransaction,
  integration: string,
  opts: { anyTrigger?: boolean } = {},
): Promise<EventCounts> {
  const [row] = await db
    .select({
      received: sql<number>`count(*)::int`,
      duplicates: sql<number>`coalesce(sum(${webhookEvents.duplicates}), 0)::int`,
      pending: sql<number>`count(*) filter (where ${webhookEvents.status} = 'pending')::int`,
      processed: sql<number>`count(*) filter (where ${webhookEvents.status} = 'processed')::int`,
      stale: sql<number>`count(*) filter (where ${webhookEvents.status} = 'stale')::int`,
      failed: sql<number>`count(*) filter (where ${webhookEvents.status} = 'failed')::int`,
      dismissed: sql<number>`count(*) filter (where ${webhookEvents.status} = 'dismissed')::int`,
      runWaits: sql<boolean>`${eventRunWaits(integration, opts)}`,
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
    byStatus: { pending: row.pending, processed: row.processed, stale: row.stale, failed: row.failed, dismissed: row.dismissed },
    rejectedByReason: reasons,
    waitingWithoutRun: row.runWaits ? 0 : row.pending,
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
/** Events per replay run: the pace counts runs, like bulk retry's. */
export const REPLAY_EVENTS_PER_RUN = 100;

const ZReplayPace = z.object({
  runs: z.number().int().min(1, 'must be at least 1').max(500),
  per: zDuration({ min: '100ms', max: '1h' }),
});

/**
 * Replays the chosen events (by id, or every event matching a filter, at most MAX_REPLAY) with the
 * pacing and breaker rules of bulk retry: the events are split over held event runs
 * (REPLAY_EVENTS_PER_RUN each) of one bulk operation of kind 'replay', which the bulk dispatcher
 * releases at `pace` (default DEFAULT_BULK_PACE per integration) and not while the integration's
 * breaker is open. An event waits, pending, until its run is released (no other run applies it
 * before); cancelling the operation puts the events of unreleased runs back as they were. One
 * transaction with its audit row; the first run is released before this returns when it may go.
 */
export async function replayEvents(
  db: Database,
  boss: PgBoss,
  params: {
    integration: string;
    eventIds?: string[];
    filter?: Omit<EventFilter, 'limit' | 'before'>;
    actor: string;
    reason?: string;
    /** The request's correlation id: on the audit row and the replay's runs (their logs and outbound calls). */
    correlationId?: string;
    pace?: { runs: number; per: string };
    /** Events per run (at most REPLAY_EVENTS_PER_RUN, the default). */
    eventsPerRun?: number;
    /** The integration has no `execute`: any run applies its events (waiting.ts). */
    anyTrigger?: boolean;
  },
): Promise<{ replayed: number; runId: string | null; runIds: string[]; bulkOperationId: string }> {
  if (!params.eventIds?.length && !params.filter) throw new AppError('invalid_input', 'Choose events to replay: one event, or a filter');
  const paced = ZReplayPace.safeParse(params.pace ?? DEFAULT_BULK_PACE);
  if (!paced.success) {
    const issue = paced.error.issues[0];
    throw new AppError('invalid_input', `pace.${issue.path.join('.')} ${issue.message}`);
  }
  const pace = paced.data;
  const perRun = Math.max(1, Math.min(REPLAY_EVENTS_PER_RUN, Math.floor(params.eventsPerRun ?? REPLAY_EVENTS_PER_RUN)));
  const result = await db.transaction(async (tx) => {
    if (params.eventIds?.length) {
      // An id that is not an event of this integration (a typo, another integration's event) is
      // refused, naming it, as bulk retry refuses unknown runs: nothing is replayed.
      const ids = [...new Set(params.eventIds)];
      const known = await tx
        .select({ eventId: webhookEvents.eventId })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.integration, params.integration), inArray(webhookEvents.eventId, ids)));
      const found = new Set(known.map((k) => k.eventId));
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length)
        throw new AppError(
          'not_found',
          `No event ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` (and ${missing.length - 5} more)` : ''} received for ${params.integration}: nothing was replayed`,
        );
    }
    const where = params.eventIds?.length
      ? and(eq(webhookEvents.integration, params.integration), inArray(webhookEvents.eventId, params.eventIds))
      : filterWhere(params.integration, params.filter!);
    const chosen = await tx
      .select({ id: webhookEvents.id, status: webhookEvents.status })
      .from(webhookEvents)
      // A dismissed event is never applied again: an operator decided it must not be. A pending
      // one is replayed only when no run will apply it (its run was cancelled).
      .where(
        and(
          where,
          sql`${webhookEvents.status} <> 'dismissed'`,
          sql`(${webhookEvents.status} <> 'pending' or not ${eventRunWaits(params.integration, { anyTrigger: params.anyTrigger })})`,
        ),
      )
      .orderBy(webhookEvents.id)
      .limit(MAX_REPLAY + 1)
      .for('update');
    if (chosen.length === 0)
      throw new AppError(
        'invalid_state',
        'No event to replay: the chosen events are pending with a run queued to apply them, or dismissed (never replayed)',
      );
    if (chosen.length > MAX_REPLAY)
      throw new AppError(
        'invalid_input',
        `That filter matches more than ${MAX_REPLAY} events: narrow it (status, type, id) and replay in parts`,
      );
    const integration = await loadIntegration(tx, params.integration);
    const bulkOperationId = randomUUID();
    const chunks: (typeof chosen)[] = [];
    for (let i = 0; i < chosen.length; i += perRun) chunks.push(chosen.slice(i, i + perRun));
    await tx.insert(bulkOperations).values({
      id: bulkOperationId,
      kind: 'replay',
      createdBy: params.actor,
      runIds: [],
      retriedRunIds: [],
      total: chunks.length,
      paceRuns: pace.runs,
      pacePeriodMs: parseDuration(pace.per),
      reason: params.reason || null,
    });
    const runIds: string[] = [];
    for (const [sequence, chunk] of chunks.entries()) {
      const runId = await insertRun(tx, boss, {
        sequence,
        integration,
        trigger: 'event',
        triggeredBy: params.actor,
        dryRun: false,
        reason: params.reason || null,
        bulkOperationId,
        hold: 'pace',
        correlationId: params.correlationId,
      });
      runIds.push(runId);
      await tx
        .update(webhookEvents)
        .set({
          status: 'pending',
          replayedFrom: sql`${webhookEvents.status}`,
          replayRunId: runId,
          outcome: null,
          processedAt: null,
          replays: sql`${webhookEvents.replays} + 1`,
        })
        .where(
          inArray(
            webhookEvents.id,
            chunk.map((c) => c.id),
          ),
        );
    }
    await tx.update(bulkOperations).set({ runIds }).where(eq(bulkOperations.id, bulkOperationId));
    await recordAction(tx, {
      actor: params.actor,
      correlationId: params.correlationId,
      integration: params.integration,
      action: 'events.replay',
      details: {
        count: chosen.length,
        ...(params.eventIds?.length ? { eventIds: params.eventIds.slice(0, 20) } : { filter: params.filter }),
        ...(params.reason ? { reason: params.reason } : {}),
        // The first run (the one that applies a single replayed event), then all of them.
        runId: runIds[0],
        bulkOperationId,
        runIds,
        pace,
      },
    });
    return { replayed: chosen.length, runId: runIds[0], runIds, bulkOperationId };
  });
  // Release the first slot now (when the pace and the breaker allow); the workers' dispatcher does the rest.
  await dispatchIntegration(db, boss, params.integration).catch(() => undefined);
  return result;
}
