import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database } from '../../../db/client';
import { integrations, runs, webhookEvents, webhookRejections } from '../../../db/schema';
import type { EventsDeclaration, IntegrationDefinition, Registry, WebhookDelivery } from '../contract';
import { insertRun } from '../execution/run-create';
import type { Keyring } from '../governance/crypto';
import { recordWebhookIntake } from '../observability/metrics';
import { activeWebhookSecrets } from './secrets';
import { verifySignature } from './signature';

/**
 * The intake: one delivery to `POST /hooks/<integration>`, from raw bytes to an answer.
 *
 * 404 unknown integration (or one that receives no events) → 415 not JSON → 413 over the limit →
 * 401 signature (over the raw body, before parsing) or timestamp outside the window → 400 not
 * JSON / no event id or type → 200. A known event id answers 200 `duplicate: true` and creates
 * nothing. A new event is inserted together with its processing run (the integration's queued
 * event run, or a new one with its pg-boss job) in ONE transaction; the 200 is sent after it
 * commits, so a sender that got a 2xx can forget the event. Refusals of a known integration are
 * recorded with metadata only (never the body, a signature or a secret).
 */

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export interface IntakeDeps {
  db: Database;
  boss: PgBoss;
  registry: Registry;
  keyring: Keyring;
}

export interface IntakeRequest {
  integration: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
  /** Reads the body up to `limit` bytes; returns null when it is longer. */
  readBody(limit: number): Promise<Buffer | null>;
  remote?: string | null;
}

export interface IntakeAnswer {
  status: number;
  body: Record<string, unknown>;
}

const FIELD_MAX = 200;

function clip(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (!trimmed || trimmed.length > FIELD_MAX || [...trimmed].some((c) => c.charCodeAt(0) < 0x20)) return undefined;
  return trimmed;
}

function eventsOf(registry: Registry, name: string): { def: IntegrationDefinition; events: EventsDeclaration } | null {
  const def = registry.get(name);
  return def?.events ? { def, events: def.events } : null;
}

async function reject(
  deps: IntakeDeps,
  req: IntakeRequest,
  status: number,
  reason: string,
  extra: { eventId?: string; contentLength?: number } = {},
): Promise<IntakeAnswer> {
  try {
    await deps.db.insert(webhookRejections).values({
      integration: req.integration,
      status,
      reason,
      eventId: extra.eventId?.slice(0, FIELD_MAX) ?? null,
      contentType: req.headers['content-type']?.slice(0, 100) ?? null,
      contentLength: extra.contentLength ?? (Number(req.headers['content-length']) || null),
      remote: req.remote?.slice(0, 100) ?? null,
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    console.warn(
      `[intake] could not record a refused delivery for '${req.integration}': ${cause instanceof Error ? cause.message : 'query failed'}`,
    );
  }
  return { status, body: { error: reason } };
}

export async function receiveWebhook(deps: IntakeDeps, req: IntakeRequest): Promise<IntakeAnswer> {
  const answer = await answerDelivery(deps, req);
  // Unknown endpoints are not counted: their names come from the caller and would be labels.
  if (answer.status !== 404) {
    recordWebhookIntake(req.integration, answer.status !== 200 ? 'rejected' : answer.body.duplicate ? 'duplicate' : 'accepted');
  }
  return answer;
}

async function answerDelivery(deps: IntakeDeps, req: IntakeRequest): Promise<IntakeAnswer> {
  const found = eventsOf(deps.registry, req.integration);
  if (!found) return { status: 404, body: { error: 'no such webhook endpoint' } };
  const { def, events } = found;

  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (contentType !== 'application/json') return reject(deps, req, 415, 'content type must be application/json');

  const limit = events.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return reject(deps, req, 413, `body over ${limit} bytes`);
  const raw = await req.readBody(limit);
  if (raw === null) return reject(deps, req, 413, `body over ${limit} bytes`);

  const secrets = await activeWebhookSecrets(deps.db, deps.keyring, def.name);
  const verified = verifySignature(events, secrets, raw, req.headers);
  if (!verified.ok) return reject(deps, req, 401, verified.reason, { contentLength: raw.length, eventId: clip(req.headers['webhook-id']) });

  let body: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    body = JSON.parse(text);
  } catch {
    return reject(deps, req, 400, 'body is not valid UTF-8 JSON', { contentLength: raw.length });
  }
  // PostgreSQL's jsonb cannot hold U+0000: refused here rather than failing at the insert (and
  // making the sender retry forever).
  if (/\\u0000/i.test(text)) return reject(deps, req, 400, 'body contains \\u0000, which cannot be stored', { contentLength: raw.length });
  const delivery: WebhookDelivery = { headers: req.headers, body };
  let eventId: string | undefined;
  let type: string | undefined;
  let orderingKey: string | undefined;
  let version: number | undefined;
  try {
    eventId = clip(events.idFrom ? events.idFrom(delivery) : req.headers['webhook-id']);
    type = clip(events.typeFrom(delivery));
    orderingKey = clip(events.orderingKeyFrom?.(delivery));
    const v = events.versionFrom?.(delivery);
    version = typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
  } catch {
    // A declaration that throws on an odd body: the fields are missing.
  }
  if (!eventId) return reject(deps, req, 400, 'no event id in the delivery', { contentLength: raw.length });
  if (!type) return reject(deps, req, 400, 'no event type in the delivery', { eventId, contentLength: raw.length });

  // The common case in ONE statement (one round trip, atomic on its own): when the integration has
  // an event run that has not started, share-lock it and store the event (or count the duplicate)
  // in the same statement. Otherwise nothing is written and the transaction below does it all.
  const [fast] = await deps.db.execute<{ inserted: boolean | null; run_id: string | null }>(sql`
    with queued as (
      select id from runs
       where integration = ${def.name} and trigger = 'event' and dry_run = false
         and status in ('queued', 'deferred') and started_at is null and hold is null
       limit 1 for share),
    stored as (
      insert into webhook_events (integration, event_id, event_type, ordering_key, version, payload, signed_at)
      select ${def.name}, ${eventId}, ${type}, ${orderingKey ?? null}, ${version ?? null}, ${JSON.stringify(body)}::jsonb, ${verified.signedAt.toISOString()}::timestamptz
       where exists (select 1 from queued)
      on conflict (integration, event_id)
      do update set duplicates = webhook_events.duplicates + 1, last_duplicate_at = now()
      returning (xmax = 0) as inserted)
    select (select inserted from stored) as inserted, (select id from queued) as run_id`);
  if (fast?.run_id && fast.inserted !== null) return { status: 200, body: { received: true, id: eventId, duplicate: !fast.inserted } };

  const outcome = await deps.db.transaction(async (tx) => {
    const inserted = await tx
      .insert(webhookEvents)
      .values({
        integration: def.name,
        eventId,
        eventType: type,
        orderingKey: orderingKey ?? null,
        version: version ?? null,
        payload: body,
        signedAt: verified.signedAt,
      })
      .onConflictDoNothing({ target: [webhookEvents.integration, webhookEvents.eventId] })
      .returning({ id: webhookEvents.id });
    if (inserted.length === 0) {
      await tx
        .update(webhookEvents)
        .set({ duplicates: sql`${webhookEvents.duplicates} + 1`, lastDuplicateAt: sql`now()` })
        .where(and(eq(webhookEvents.integration, def.name), eq(webhookEvents.eventId, eventId)));
      return { duplicate: true } as const;
    }
    await ensureEventRun(tx, deps.boss, def.name);
    return { duplicate: false } as const;
  });
  return { status: 200, body: { received: true, id: eventId, duplicate: outcome.duplicate } };
}

/** The event run of this integration that has not started yet (locked against starting), if any. */
function waitingEventRun(tx: Parameters<Parameters<Database['transaction']>[0]>[0], integration: string) {
  return tx
    .select({ id: runs.id })
    .from(runs)
    .where(
      and(
        eq(runs.integration, integration),
        eq(runs.trigger, 'event'),
        eq(runs.dryRun, false),
        inArray(runs.status, ['queued', 'deferred']),
        isNull(runs.startedAt),
        isNull(runs.hold),
      ),
    )
    .limit(1)
    .for('share');
}

/**
 * Makes sure a run will apply the events committed with this transaction: the integration's event
 * run that has not started yet (locked, so it cannot start before this transaction commits: its
 * start updates the same row and waits, and then reads the new event), or a new one with its job.
 */
export async function ensureEventRun(
  tx: Parameters<Parameters<Database['transaction']>[0]>[0],
  boss: PgBoss,
  integration: string,
): Promise<string> {
  const [queued] = await waitingEventRun(tx, integration);
  // Re-checked under the lock (READ COMMITTED re-evaluates the row): still not started.
  if (queued) return queued.id;
  // None waiting: one creator at a time per integration, so a burst creates one run, not one each.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`junction-event-run:${integration}`}, 0))`);
  const [again] = await waitingEventRun(tx, integration);
  if (again) return again.id;
  const [row] = await tx.select().from(integrations).where(eq(integrations.name, integration));
  return insertRun(tx, boss, { integration: row, trigger: 'event', triggeredBy: 'webhook', dryRun: false });
}
