import { trace, type Span } from '@opentelemetry/api';
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database, Transaction } from '../../../db/client';
import { webhookEvents, webhookOrdering, type Run, type WebhookEvent } from '../../../db/schema';
import type { EventsDeclaration, IncomingEvent, IntegrationContext, RunResult } from '../contract';
import { classifyError, errorMessage, isCredentialsError, storableText } from '../errors';
import { emitPlatformEvent } from '../execution/events';
import { announceRefusal, txEventSender } from '../execution/queue';
import { linkTraceparents } from '../observability/tracing';
import type { SecretRedactor } from '../redaction';
import { lockFailedEvents } from './dismiss';
import { failedOrReplayingFailed } from './waiting';

/**
 * Applies an integration's pending events inside a run (the runner calls it instead of `execute`),
 * so events get the runs' retries, breaker, dry-run, logs and alerts.
 *
 * Events go in the order they were received (runs of an integration take turns, so one stream at
 * a time), `batchSize` per transaction. In that transaction the platform locks the events, skips
 * any no longer pending (another attempt applied it), recognises a late older event by its
 * ordering key and version (marked 'stale' with the newer version it lost to, never handed over),
 * never hands over an already-applied version again (the same key and version under another event
 * id: 'stale', "already applied") nor a replay of a processed event (it stays 'processed', "already
 * applied": replay re-runs failed and stale events, it never applies an event twice),
 * calls `handle(events, ctx, tx)` — the handler writes through `tx` — and marks the events
 * processed: the effect and the mark commit together, so a kill at any point applies an event
 * once or not at all. A PermanentError marks that batch 'failed' (replayable from the console) and
 * the stream goes on; any other error fails the attempt, which the run retries after its delays.
 * Each failed event is announced (events.failed, in the transaction that marks it) so alerting
 * opens or counts the integration's 'events_failed' incident: a burst of refusals queues one job
 * per integration, which counts every refusal not yet announced (announceRefusal); a run that applies replayed failed
 * events and leaves none failed nor waiting for a replay run announces events.cleared, which closes
 * it (so does dismissing the last failed event, intake/dismiss.ts).
 * A dry-run reads the same events and rolls every transaction back. The batch's transaction is the
 * attempt's ctx.tx: a handler hung in it past the attempt's time limit and grace has it ended (its
 * locks would hold every later attempt at these events), and it never commits once the attempt
 * is closed (abandoned-event-batch.test.ts).
 */

const PAGE = 500;

export function toIncoming(row: WebhookEvent): IncomingEvent {
  return {
    id: row.eventId,
    type: row.eventType,
    orderingKey: row.orderingKey,
    version: row.version,
    payload: row.payload,
    receivedAt: row.receivedAt,
    replayed: row.replays > 0,
  };
}

export async function applyPendingEvents(
  db: Database,
  params: {
    integration: string;
    events: EventsDeclaration;
    ctx: IntegrationContext<unknown>;
    run: Pick<Run, 'id' | 'dryRun' | 'correlationId'>;
    boss: PgBoss;
    /** The attempt's secrets: a refused event's reason is recorded scrubbed of them. */
    redactor?: SecretRedactor;
  },
): Promise<RunResult> {
  const { integration, events, ctx, run, boss } = params;
  const scrub = (text: string) => (params.redactor ? params.redactor.scrub(text) : text);
  const batchSize = events.batchSize ?? 1;
  const counts = { processed: 0, stale: 0, alreadyApplied: 0, failed: 0, skipped: 0, failedReplaysApplied: 0 };
  let lastId = 0;
  // The attempt's span: linked to the delivery of each event it takes (linkTraceparents).
  const span = trace.getActiveSpan();

  for (;;) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const page = await db
      .select({ id: webhookEvents.id })
      .from(webhookEvents)
      .where(
        and(
          eq(webhookEvents.integration, integration),
          eq(webhookEvents.status, 'pending'),
          gt(webhookEvents.id, lastId),
          // A replayed event waits for its own (held) replay run to be released: the pace and breaker of bulk retry.
          sql`not exists (select 1 from runs r where r.id = ${webhookEvents.replayRunId} and r.status = 'queued' and r.released_at is null)`,
        ),
      )
      .orderBy(asc(webhookEvents.id))
      .limit(PAGE);
    if (page.length === 0) break;
    lastId = page.at(-1)!.id;
    for (let i = 0; i < page.length; i += batchSize) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      await applyIds(page.slice(i, i + batchSize).map((r) => r.id));
      ctx.progress(counts.processed + counts.stale + counts.alreadyApplied + counts.failed);
    }
  }

  async function applyIds(ids: number[]): Promise<void> {
    try {
      // The attempt's host transaction (ctx.tx, context.ts): rolled back in a dry-run, ended when
      // the platform stops waiting for the attempt (a handler hung in `handle` holds the events'
      // locks), and committed only while the attempt is still running.
      const done = await ctx.tx((tx) => applyBatch(tx, { integration, events, ctx, runId: run.id, ids, span }));
      counts.processed += done.processed;
      counts.stale += done.stale;
      counts.alreadyApplied += done.alreadyApplied;
      counts.failedReplaysApplied += done.failedReplaysApplied;
      counts.skipped += done.skipped;
      for (const line of done.staleLines) ctx.log.info(line);
    } catch (error) {
      if (classifyError(error).kind !== 'permanent' || isCredentialsError(error)) throw error;
      // One refused event must not sink the others of its batch: apply them one by one.
      if (ids.length > 1) {
        for (const id of ids) await applyIds([id]);
        return;
      }
      // Stored as text: a NUL or half a character from an external error body would fail the statement.
      const message = storableText(scrub(`refused by the handler: ${errorMessage(error)}`).slice(0, 2000));
      ctx.log.error(`event failed permanently: ${message}`);
      if (!run.dryRun) {
        await db.transaction(async (tx) => {
          await lockFailedEvents(tx, integration);
          const marked = await tx
            .update(webhookEvents)
            .set({ status: 'failed', outcome: message, runId: run.id, processedAt: sql`now()`, refusalUnannouncedAt: sql`now()` })
            .where(and(inArray(webhookEvents.id, ids), eq(webhookEvents.status, 'pending')))
            .returning({ eventId: webhookEvents.eventId, eventType: webhookEvents.eventType });
          // Alerting makes one incident of a burst: the first failure alerts, the others are counted.
          // One queued job per integration stands for every refusal not yet announced (announceRefusal).
          const [first] = marked;
          if (first) {
            await announceRefusal(boss, tx, {
              type: 'events.failed',
              at: new Date().toISOString(),
              integration,
              runId: run.id,
              eventId: first.eventId,
              eventType: first.eventType,
              reason: message,
              correlationId: run.correlationId,
            });
          }
        });
      }
      counts.failed += ids.length;
    }
  }
  if (!run.dryRun && counts.failedReplaysApplied > 0) {
    await db.transaction(async (tx) => {
      await lockFailedEvents(tx, integration);
      // Cleared when none is failed and none replayed from failed still waits for its run (a
      // replay in several runs: the last to apply its events announces it).
      const [left] = await tx
        .select({ id: webhookEvents.id })
        .from(webhookEvents)
        .where(and(eq(webhookEvents.integration, integration), failedOrReplayingFailed))
        .limit(1);
      if (!left)
        await emitPlatformEvent(txEventSender(boss, tx), {
          type: 'events.cleared',
          at: new Date().toISOString(),
          integration,
          runId: run.id,
          correlationId: run.correlationId,
        });
    });
  }
  const parts = [`${counts.processed} applied`];
  if (counts.stale) parts.push(`${counts.stale} stale (older than an applied version)`);
  if (counts.alreadyApplied) parts.push(`${counts.alreadyApplied} already applied (not applied again)`);
  if (counts.failed) parts.push(`${counts.failed} failed`);
  const summary = `${run.dryRun ? 'Dry-run: would have ' : ''}Events: ${parts.join(', ')}`;
  ctx.log.info(summary);
  return { processed: counts.processed, stale: counts.stale, alreadyApplied: counts.alreadyApplied, failed: counts.failed, summary };
}

async function applyBatch(
  tx: Transaction,
  p: { integration: string; events: EventsDeclaration; ctx: IntegrationContext<unknown>; runId: string; ids: number[]; span?: Span },
): Promise<{
  processed: number;
  stale: number;
  alreadyApplied: number;
  failedReplaysApplied: number;
  skipped: number;
  staleLines: string[];
}> {
  const rows = await tx
    .select()
    .from(webhookEvents)
    .where(and(inArray(webhookEvents.id, p.ids), eq(webhookEvents.status, 'pending')))
    .orderBy(asc(webhookEvents.id))
    .for('update');
  const skipped = p.ids.length - rows.length;
  if (rows.length === 0) return { processed: 0, stale: 0, alreadyApplied: 0, failedReplaysApplied: 0, skipped, staleLines: [] };
  // An event whose delivery joined a run queued by an earlier one was received in a trace of its
  // own (the run continues the first delivery's): the attempt links to it.
  linkTraceparents(
    p.span,
    rows.map((r) => ({ traceparent: r.traceParent, attributes: { 'junction.event_id': r.eventId } })),
  );

  const keys = [...new Set(rows.filter((r) => r.orderingKey !== null && r.version !== null).map((r) => r.orderingKey!))];
  const newest = new Map<string, { version: number; eventId: string }>();
  if (keys.length) {
    const held = await tx
      .select()
      .from(webhookOrdering)
      .where(and(eq(webhookOrdering.integration, p.integration), inArray(webhookOrdering.orderingKey, keys)))
      .for('update');
    for (const h of held) newest.set(h.orderingKey, { version: h.version, eventId: h.eventId });
  }
  const fresh: WebhookEvent[] = [];
  const stale: { row: WebhookEvent; lostTo: { version: number; eventId: string } }[] = [];
  const alreadyApplied: { row: WebhookEvent; outcome: string; status: 'processed' | 'stale' }[] = [];
  for (const row of rows) {
    // A replay of an applied event has nothing left to do: handing it over again would apply it twice.
    if (row.replayedFrom === 'processed') {
      alreadyApplied.push({
        row,
        status: 'processed',
        outcome: 'already applied: this event was processed before the replay; not applied again',
      });
      continue;
    }
    if (row.orderingKey !== null && row.version !== null) {
      const current = newest.get(row.orderingKey);
      if (current && row.version < current.version) {
        stale.push({ row, lostTo: current });
        continue;
      }
      // The same version again (the sender re-sent it under a new id, or it failed and another event
      // applied that version meanwhile): applying it would repeat the change.
      if (current && row.version === current.version) {
        alreadyApplied.push({
          row,
          status: 'stale',
          outcome: `already applied: version ${row.version} of ${row.orderingKey} was applied by event ${current.eventId}; not applied again`,
        });
        continue;
      }
      newest.set(row.orderingKey, { version: row.version, eventId: row.eventId });
    }
    fresh.push(row);
  }
  const staleLines: string[] = [];
  for (const { row, lostTo } of stale) {
    const outcome = `stale: version ${row.version} of ${row.orderingKey} arrived after version ${lostTo.version} (event ${lostTo.eventId}) was applied; not applied`;
    staleLines.push(`event ${row.eventId} (${row.eventType}) ${outcome}`);
    await tx
      .update(webhookEvents)
      .set({ status: 'stale', outcome, runId: p.runId, processedAt: sql`now()` })
      .where(eq(webhookEvents.id, row.id));
  }
  for (const { row, status, outcome } of alreadyApplied) {
    staleLines.push(`event ${row.eventId} (${row.eventType}) ${outcome}`);
    // A replayed processed event keeps its first processing time: that is when it was applied.
    await tx
      .update(webhookEvents)
      .set({ status, outcome, runId: p.runId, processedAt: sql`coalesce(${webhookEvents.processedAt}, now())` })
      .where(eq(webhookEvents.id, row.id));
  }
  if (fresh.length) {
    const freshIds = fresh.map((r) => r.id);
    await tx
      .update(webhookEvents)
      .set({ startedAt: sql`coalesce(${webhookEvents.startedAt}, clock_timestamp())`, runId: p.runId })
      .where(inArray(webhookEvents.id, freshIds));
    await p.events.handle(fresh.map(toIncoming), p.ctx, tx);
    await tx
      .update(webhookEvents)
      .set({ status: 'processed', outcome: null, processedAt: sql`clock_timestamp()` })
      .where(inArray(webhookEvents.id, freshIds));
    const applied = new Map<string, { version: number; eventId: string }>();
    for (const r of fresh)
      if (r.orderingKey !== null && r.version !== null) applied.set(r.orderingKey, { version: r.version, eventId: r.eventId });
    if (applied.size) {
      // One statement for the batch; a version never moves back.
      await tx
        .insert(webhookOrdering)
        .values([...applied].map(([key, v]) => ({ integration: p.integration, orderingKey: key, version: v.version, eventId: v.eventId })))
        .onConflictDoUpdate({
          target: [webhookOrdering.integration, webhookOrdering.orderingKey],
          set: { version: sql`excluded.version`, eventId: sql`excluded.event_id`, appliedAt: sql`now()` },
          setWhere: sql`${webhookOrdering.version} <= excluded.version`,
        });
    }
  }
  return {
    processed: fresh.length,
    stale: stale.length,
    alreadyApplied: alreadyApplied.length,
    // Replayed failed events this batch settled, applied or found stale: any of them may be the
    // last the incident waited for.
    failedReplaysApplied: [...fresh, ...stale.map((s) => s.row), ...alreadyApplied.map((a) => a.row)].filter(
      (r) => r.replayedFrom === 'failed',
    ).length,
    skipped,
    staleLines,
  };
}
