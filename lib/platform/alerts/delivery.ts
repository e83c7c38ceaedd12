import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import { z } from 'zod';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { alertChannels, alertDeliveries, alerts, incidents, integrations } from '../../../db/schema';
import { bossDb } from '../execution/queue';
import type { Keyring } from '../governance/crypto';
import { platformMetrics } from '../observability/metrics';
import { channelTarget } from './channels';
import type { AlertMessage } from './messages';
import { sendToChannel, type SendOutcome } from './transports';

/**
 * Durable delivery: an alert is recorded with the channels it goes to, and one pg-boss job per
 * (alert, channel) carries it, with its own retries. Every attempt is a row in alert_deliveries;
 * once each channel has its final attempt (delivered, or failed with no retry left) the alert is
 * delivered, partial or undelivered, and an undelivered alert flags its incident.
 */

export const ALERT_DELIVERY_QUEUE = 'junction-alert-delivery';
/**
 * The delivery jobs pg-boss gave up on (its dead letter queue): failed with no retry left. A job
 * whose last try recorded its outcome needs nothing more; one whose last try was lost (its worker
 * killed or crashed mid-send, so pg-boss expired the job) or could not be recorded still needs its
 * final attempt, or the alert would stay pending for good (giveUpDelivery).
 */
export const ALERT_DELIVERY_DEAD_QUEUE = 'junction-alert-delivery-dead';

export interface DeliveryRetry {
  /** Retries after the first attempt. */
  limit: number;
  /** Seconds before the first retry. */
  delaySeconds: number;
  /** Doubles the delay on each retry (with jitter). Default true. */
  backoff?: boolean;
  /**
   * How long one try may stay active before pg-boss takes its worker for gone and retries the job
   * (or gives it up, when it was the last try). Default 120: a try is bounded by the transport
   * timeouts (10-20 s).
   */
  expireSeconds?: number;
}

export const DEFAULT_DELIVERY_RETRY: Required<DeliveryRetry> = { limit: 5, delaySeconds: 30, backoff: true, expireSeconds: 120 };

export const ZDeliveryJob = z.object({ alertId: z.uuid(), channelId: z.uuid() });
export type DeliveryJobData = z.infer<typeof ZDeliveryJob>;

export type AlertStatus = 'pending' | 'delivered' | 'partial' | 'undelivered';

const ensured = new WeakMap<PgBoss, Promise<void>>();

/**
 * Creates the delivery queue (and its dead letter queue) when missing. With `retry` (the worker at
 * start-up) it also applies the retry settings and the dead letter queue, which every job sent
 * afterwards inherits.
 */
export async function ensureAlertQueues(boss: PgBoss, retry?: Partial<DeliveryRetry>): Promise<void> {
  if (!retry) {
    let done = ensured.get(boss);
    if (!done) {
      done = createDeliveryQueue(boss, DEFAULT_DELIVERY_RETRY);
      ensured.set(boss, done);
      done.catch(() => ensured.delete(boss));
    }
    return done;
  }
  await createDeliveryQueue(boss, retry);
  const r = { ...DEFAULT_DELIVERY_RETRY, ...retry };
  await boss.updateQueue(ALERT_DELIVERY_QUEUE, {
    retryLimit: r.limit,
    retryDelay: r.delaySeconds,
    retryBackoff: r.backoff,
    expireInSeconds: r.expireSeconds,
    // Queues created before the dead letter queue existed get it here.
    deadLetter: ALERT_DELIVERY_DEAD_QUEUE,
  });
  ensured.set(boss, Promise.resolve());
}

async function createDeliveryQueue(boss: PgBoss, retry: Partial<DeliveryRetry>): Promise<void> {
  const r = { ...DEFAULT_DELIVERY_RETRY, ...retry };
  // Giving up only records an attempt: retried briefly if the database is in trouble.
  await boss.createQueue(ALERT_DELIVERY_DEAD_QUEUE, {
    policy: 'standard',
    retryLimit: 10,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 300,
  });
  await boss.createQueue(ALERT_DELIVERY_QUEUE, {
    policy: 'standard',
    notify: true,
    retryLimit: r.limit,
    retryDelay: r.delaySeconds,
    retryBackoff: r.backoff,
    ...(r.backoff ? { retryDelayMax: 3600 } : {}),
    // A worker that died mid-send is noticed after this; a last try lost so ends in the dead letter queue.
    expireInSeconds: r.expireSeconds,
    deadLetter: ALERT_DELIVERY_DEAD_QUEUE,
  });
}

/** Enabled channels the integration's alert routing selects ('all' or a list of ids). */
export async function routedChannelIds(db: DatabaseOrTransaction, params: { integration: string | null }): Promise<string[]> {
  let wanted: string[] | 'all' = 'all';
  if (params.integration) {
    const [row] = await db
      .select({ routing: integrations.alertRouting })
      .from(integrations)
      .where(eq(integrations.name, params.integration));
    if (row && Array.isArray(row.routing?.channelIds)) wanted = row.routing.channelIds;
  }
  if (wanted !== 'all' && wanted.length === 0) return [];
  const rows = await db
    .select({ id: alertChannels.id })
    .from(alertChannels)
    .where(wanted === 'all' ? eq(alertChannels.enabled, true) : and(eq(alertChannels.enabled, true), inArray(alertChannels.id, wanted)))
    .orderBy(asc(alertChannels.name));
  return rows.map((r) => r.id);
}

/** alerts.event for each message event (the console's filter). */
const ALERT_EVENT_ROW = {
  'incident.opened': 'opened',
  'incident.updated': 'updated',
  'incident.recovered': 'recovered',
  'alert.test': 'test',
} as const satisfies Record<AlertMessage['event'], string>;

/**
 * Records an alert and enqueues one delivery job per channel, in the caller's transaction (the
 * alert and its jobs commit together). No channel at all makes it undelivered at once.
 */
export async function raiseAlert(
  tx: DatabaseOrTransaction,
  params: { boss: PgBoss; message: AlertMessage; incidentId: string | null; channelIds?: string[] },
): Promise<{ alertId: string; channelIds: string[] }> {
  const { message } = params;
  const channelIds = params.channelIds ?? (await routedChannelIds(tx, { integration: message.integration }));
  const event = ALERT_EVENT_ROW[message.event];
  const [alert] = await tx
    .insert(alerts)
    .values({
      incidentId: params.incidentId,
      event,
      integration: message.integration,
      title: message.title,
      body: message,
      status: channelIds.length === 0 ? 'undelivered' : 'pending',
      channelIds,
      // Millisecond precision, so a JavaScript Date is an exact keyset cursor for alert history.
      // The clock, not the transaction's start: one that waited for a lock (incidents.ts) lists
      // its alert after the one it waited for (a recovery after its opening).
      createdAt: sql`date_trunc('milliseconds', clock_timestamp())`,
    })
    .returning({ id: alerts.id });
  if (channelIds.length === 0) {
    if (params.incidentId) await tx.update(incidents).set({ undelivered: true }).where(eq(incidents.id, params.incidentId));
    return { alertId: alert.id, channelIds };
  }
  await ensureAlertQueues(params.boss);
  const db = bossDb(tx);
  for (const channelId of channelIds) {
    // The channel is the job's group: the worker delivers at most a few at a time per channel
    // (DeliveryConcurrency), so a slow channel does not hold the others.
    await params.boss.send(ALERT_DELIVERY_QUEUE, { alertId: alert.id, channelId } satisfies DeliveryJobData, {
      db,
      group: { id: channelId },
    });
  }
  return { alertId: alert.id, channelIds };
}

/** Delivered when every channel got it, undelivered when none did, partial in between. */
export function alertStatus(channelIds: string[], finals: { channelId: string; status: 'delivered' | 'failed' }[]): AlertStatus {
  const outcome = new Map<string, 'delivered' | 'failed'>();
  for (const f of finals) if (outcome.get(f.channelId) !== 'delivered') outcome.set(f.channelId, f.status);
  if (!channelIds.every((id) => outcome.has(id))) return 'pending';
  const delivered = channelIds.filter((id) => outcome.get(id) === 'delivered').length;
  if (delivered === channelIds.length) return 'delivered';
  return delivered === 0 ? 'undelivered' : 'partial';
}

export type DeliveryResult = 'delivered' | 'retry' | 'gave_up' | 'skipped';

/**
 * How many deliveries a worker process runs at once: per channel (the job's pg-boss group) and
 * overall. Each channel's jobs start in the order they were queued, so a slow or timing-out channel
 * takes its own slots, never the others'. Per process: N worker processes may have N times as many
 * deliveries of one channel in hand.
 */
export interface DeliveryConcurrency {
  perChannel: number;
  overall: number;
}

export const DEFAULT_DELIVERY_CONCURRENCY: DeliveryConcurrency = { perChannel: 2, overall: 6 };

/** The longest a receiver's Retry-After may hold a delivery's next try. */
export const MAX_RETRY_AFTER_SECONDS = 3600;

interface DeliveryParams {
  keyring: Keyring;
  data: unknown;
  retryCount: number;
  retryLimit: number;
  timeoutMs?: number;
}

/**
 * One attempt of one delivery job: sends, records the attempt, settles the alert when this was
 * the channel's final attempt. 'retry' means pg-boss should run the job again.
 */
export async function deliverAlert(db: Database, params: DeliveryParams): Promise<DeliveryResult> {
  return (await deliverAlertAttempt(db, params)).result;
}

/**
 * deliverAlert, and for a 'retry' the receiver asked to wait for (Retry-After on a 429 or 503),
 * how long the next try must wait at least: seconds, capped at MAX_RETRY_AFTER_SECONDS.
 */
export async function deliverAlertAttempt(
  db: Database,
  params: DeliveryParams,
): Promise<{ result: DeliveryResult; retryAfterSeconds?: number }> {
  const result = (value: DeliveryResult) => ({ result: value });
  const parsed = ZDeliveryJob.safeParse(params.data);
  if (!parsed.success) return result('skipped');
  const { alertId, channelId } = parsed.data;
  const [alert] = await db.select().from(alerts).where(eq(alerts.id, alertId));
  if (!alert) return result('skipped');
  const [done] = await db
    .select({ id: alertDeliveries.id })
    .from(alertDeliveries)
    .where(and(eq(alertDeliveries.alertId, alertId), eq(alertDeliveries.channelId, channelId), eq(alertDeliveries.final, true)))
    .limit(1);
  if (done) return result('skipped');
  if (params.retryCount > 0) await noteLostTry(db, { alertId, channelId, attempt: params.retryCount });

  // A channel disabled after the alert was raised gets nothing more (a test alert still goes: it is
  // how an admin tries a channel before enabling it); the attempt is final and says why.
  const [state] = await db
    .select({
      name: alertChannels.name,
      enabled: alertChannels.enabled,
      updatedBy: alertChannels.updatedBy,
      updatedAt: alertChannels.updatedAt,
    })
    .from(alertChannels)
    .where(eq(alertChannels.id, channelId));
  if (state && !state.enabled && alert.event !== 'test') {
    const outcome: SendOutcome = {
      ok: false,
      responseCode: null,
      error: `not sent: channel '${state.name}' is disabled (last changed by ${state.updatedBy} at ${state.updatedAt.toISOString()})`,
    };
    await recordAttempt(db, { alertId, channelId, attempt: params.retryCount + 1, outcome, final: true });
    return result('gave_up');
  }

  let outcome: SendOutcome;
  let channelType = 'unknown';
  try {
    const target = await channelTarget(db, { id: channelId, keyring: params.keyring });
    if (!target) return result('skipped');
    channelType = target.type;
    outcome = await sendToChannel(target, alert.body, { alertId, timeoutMs: params.timeoutMs });
  } catch (error) {
    outcome = { ok: false, responseCode: null, error: `could not send: ${error instanceof Error ? error.message : String(error)}` };
  }
  const lastTry = params.retryCount >= params.retryLimit;
  // A failure no retry can mend (the receiver refused the request, or the SMTP server rejected the
  // message for good) is final at once, and says why it was not retried.
  const refused = !outcome.ok && outcome.permanent !== undefined;
  const final = outcome.ok || refused || lastTry;
  let retryAfterSeconds: number | undefined;
  if (refused && !lastTry) {
    outcome = { ...outcome, error: `${outcome.error}; not retried: ${outcome.permanent}` };
  } else if (!final && outcome.retryAfterSeconds !== undefined) {
    retryAfterSeconds = Math.min(outcome.retryAfterSeconds, MAX_RETRY_AFTER_SECONDS);
    outcome = {
      ...outcome,
      error: `${outcome.error}; the receiver asked to wait ${retryAfterSeconds} s (Retry-After${outcome.retryAfterSeconds > MAX_RETRY_AFTER_SECONDS ? ` ${outcome.retryAfterSeconds} s, capped` : ''}): the next try waits at least that long`,
    };
  }
  await recordAttempt(db, { alertId, channelId, attempt: params.retryCount + 1, outcome, final });
  platformMetrics().alertDeliveries.inc({ channel_type: channelType, outcome: outcome.ok ? 'delivered' : final ? 'gave_up' : 'failed' });
  if (outcome.ok) return result('delivered');
  if (final) return result('gave_up');
  return retryAfterSeconds === undefined ? result('retry') : { result: 'retry', retryAfterSeconds };
}

/**
 * Fails a delivery job's try (pg-boss schedules its retry by the queue's delay and backoff) and
 * holds that retry at least `seconds` from now: the receiver's Retry-After, when it asks for longer
 * than the configured delay. One transaction; the fail is fenced on this try (`retryCount`).
 */
export async function retryNoSoonerThan(
  db: Database,
  boss: PgBoss,
  job: { id: string; retryCount: number },
  output: object,
  seconds: number,
): Promise<void> {
  const notBefore = new Date(Date.now() + seconds * 1000);
  await db.transaction(async (tx) => {
    const bdb = bossDb(tx);
    await boss.fail(ALERT_DELIVERY_QUEUE, job, output, { db: bdb });
    const retry = await boss.getJobById(ALERT_DELIVERY_QUEUE, job.id, { db: bdb });
    if (retry?.state === 'retry' && new Date(retry.startAfter).getTime() < notBefore.getTime()) {
      await boss.update(ALERT_DELIVERY_QUEUE, undefined, { id: job.id, startAfter: notBefore, db: bdb });
    }
  });
}

/**
 * A retry whose previous try left no attempt: that try was lost (its worker stopped during it and
 * pg-boss expired the job, or it could not record its outcome). Recorded as failed, not final.
 */
async function noteLostTry(db: Database, p: { alertId: string; channelId: string; attempt: number }): Promise<void> {
  const [seen] = await db
    .select({ id: alertDeliveries.id })
    .from(alertDeliveries)
    .where(and(eq(alertDeliveries.alertId, p.alertId), eq(alertDeliveries.channelId, p.channelId), eq(alertDeliveries.attempt, p.attempt)))
    .limit(1);
  if (seen) return;
  await db.insert(alertDeliveries).values({
    alertId: p.alertId,
    channelId: p.channelId,
    attempt: p.attempt,
    status: 'failed',
    error: `the try was lost: ${LOST_WORKER}, or its outcome could not be recorded; whether the receiver got it is unknown`,
    final: false,
  });
}

const LOST_WORKER = 'its worker stopped during it (killed or crashed) or was stuck past the job expiry';

/**
 * Why pg-boss gave a delivery job up, from the failed job's output: it timed out (the worker
 * stopped), or the try failed to record its outcome (the error is not repeated: the log has it).
 */
function lostReason(output: unknown): string {
  const o = (output ?? {}) as { value?: { message?: unknown }; error?: unknown };
  if (typeof o.value?.message === 'string' && /timed out|heartbeat/i.test(o.value.message)) return LOST_WORKER;
  if (o.error !== undefined) return 'its outcome could not be recorded (database trouble)';
  return 'pg-boss gave the job up with no outcome recorded';
}

/**
 * A delivery job pg-boss gave up on (the dead letter queue): when its channel has no final attempt
 * yet (the last try was lost, or could not be recorded), records one, failed, and settles the alert
 * as the last failed try would have: undelivered flags its incident. Whether the receiver got the
 * lost try is unknown, and the attempt says so. Returns whether it recorded anything.
 */
export async function giveUpDelivery(
  db: Database,
  params: { data: unknown; retryCount: number | null; output: unknown },
): Promise<boolean> {
  const parsed = ZDeliveryJob.safeParse(params.data);
  if (!parsed.success) return false;
  const { alertId, channelId } = parsed.data;
  const [alert] = await db.select({ id: alerts.id }).from(alerts).where(eq(alerts.id, alertId));
  if (!alert) return false;
  const outcome: SendOutcome = {
    ok: false,
    responseCode: null,
    error: `given up: the try was lost: ${lostReason(params.output)}; whether the receiver got it is unknown`,
  };
  const recorded = await recordAttempt(db, {
    alertId,
    channelId,
    attempt: (params.retryCount ?? 0) + 1,
    outcome,
    final: true,
    unlessSettled: true,
  });
  if (recorded) {
    const [channel] = await db.select({ type: alertChannels.type }).from(alertChannels).where(eq(alertChannels.id, channelId));
    platformMetrics().alertDeliveries.inc({ channel_type: channel?.type ?? 'unknown', outcome: 'gave_up' });
  }
  return recorded;
}

async function recordAttempt(
  db: Database,
  params: {
    alertId: string;
    channelId: string;
    attempt: number;
    outcome: SendOutcome;
    final: boolean;
    /** Records nothing when the channel already has its final attempt (returns false). */
    unlessSettled?: boolean;
  },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    // Serialises the jobs of one alert, so the last channel to finish settles the status once.
    const [alert] = await tx.select().from(alerts).where(eq(alerts.id, params.alertId)).for('update');
    if (params.unlessSettled) {
      const [settled] = await tx
        .select({ id: alertDeliveries.id })
        .from(alertDeliveries)
        .where(
          and(
            eq(alertDeliveries.alertId, params.alertId),
            eq(alertDeliveries.channelId, params.channelId),
            eq(alertDeliveries.final, true),
          ),
        )
        .limit(1);
      if (settled) return false;
    }
    await tx.insert(alertDeliveries).values({
      alertId: params.alertId,
      channelId: params.channelId,
      attempt: params.attempt,
      status: params.outcome.ok ? 'delivered' : 'failed',
      responseCode: params.outcome.responseCode,
      error: params.outcome.error,
      final: params.final,
    });
    if (!params.final || !alert) return true;
    const finals = await tx
      .select({ channelId: alertDeliveries.channelId, status: alertDeliveries.status })
      .from(alertDeliveries)
      .where(and(eq(alertDeliveries.alertId, params.alertId), eq(alertDeliveries.final, true)));
    const status = alertStatus(alert.channelIds, finals);
    if (status === alert.status) return true;
    await tx.update(alerts).set({ status }).where(eq(alerts.id, params.alertId));
    if (status === 'undelivered' && alert.incidentId) {
      await tx.update(incidents).set({ undelivered: true }).where(eq(incidents.id, alert.incidentId));
    }
    return true;
  });
}
