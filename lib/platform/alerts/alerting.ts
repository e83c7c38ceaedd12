import { eq } from 'drizzle-orm';
import type { JobResult, PgBoss } from 'pg-boss';
import type { Database, DatabaseOrTransaction } from '../../../db/client';
import { alertChannels } from '../../../db/schema';
import { AppError } from '../errors';
import { PLATFORM_EVENTS_QUEUE } from '../execution/events';
import { ensurePlatformQueues } from '../execution/queue';
import { recordAction } from '../governance/audit';
import type { Keyring } from '../governance/crypto';
import {
  ALERT_DELIVERY_DEAD_QUEUE,
  ALERT_DELIVERY_QUEUE,
  DEFAULT_DELIVERY_CONCURRENCY,
  deliverAlertAttempt,
  ensureAlertQueues,
  giveUpDelivery,
  raiseAlert,
  retryNoSoonerThan,
  type DeliveryConcurrency,
  type DeliveryRetry,
} from './delivery';
import { parsePlatformEvent } from './event-schema';
import { handlePlatformEvent } from './incidents';
import { testMessage } from './messages';

/**
 * Alerting's worker side: consumes the platform events (incidents and alerts) and the delivery
 * queue (one job per alert and channel). Any number of worker processes can run it at once.
 */

export interface AlertingOptions {
  db: Database;
  boss: PgBoss;
  keyring: Keyring;
  /** The console's base URL, for run links in messages. */
  appUrl: string;
  /** Retries of each delivery job (default: 5, from 30 s, doubling; a try lost after 120 s). */
  deliveryRetry?: Partial<DeliveryRetry>;
  /** Deliveries at once in this process: per channel and overall (default 2 and 6). */
  deliveryConcurrency?: Partial<DeliveryConcurrency>;
  /** How often an idle worker looks for jobs, seconds (>= 0.5, default 2). */
  pollingIntervalSeconds?: number;
  /** Timeout of one send (HTTP request or SMTP session step), ms (default 10 000). */
  sendTimeoutMs?: number;
  /**
   * Recovery hold, seconds (default 0 = close at once): a recovery closes its incident only after
   * this long without another failure, so a flapping system stays one incident (see incidents.ts).
   */
  recoveryHoldSeconds?: number;
  /** Where refused events and failed deliveries are reported (default console.warn). */
  log?: (message: string) => void;
}

function eventTime(data: unknown): number {
  const at = Date.parse(String((data as { at?: unknown } | null)?.at));
  return Number.isNaN(at) ? 0 : at;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function startAlerting(params: AlertingOptions): Promise<{ stop(): Promise<void> }> {
  const { db, boss, keyring, appUrl } = params;
  const log = params.log ?? ((message: string) => console.warn(`[alerting] ${message}`));
  const polling = Math.max(0.5, params.pollingIntervalSeconds ?? 2);
  await ensurePlatformQueues(boss);
  await ensureAlertQueues(boss, params.deliveryRetry ?? {});

  const eventsWorker = await boss.work(
    PLATFORM_EVENTS_QUEUE,
    { batchSize: 10, includeMetadata: true, perJobResults: true, pollingIntervalSeconds: polling, notifyPollingIntervalSeconds: polling },
    async (jobs) => {
      const results: JobResult[] = [];
      // A fetched batch comes in no particular order; handle it in the order things happened, so a
      // failure and the recovery right after it (often in one batch) end as a closed incident.
      const ordered = [...jobs].sort((a, b) => eventTime(a.data) - eventTime(b.data) || a.createdOn.getTime() - b.createdOn.getTime());
      for (const job of ordered) {
        const parsed = parsePlatformEvent(job.data);
        if (!parsed.ok) {
          log(`${parsed.message} (job ${job.id})`);
          results.push({ id: job.id, status: 'deadletter', output: { error: parsed.message } });
          continue;
        }
        try {
          await handlePlatformEvent(db, { boss, event: parsed.event, appUrl, recoveryHoldSeconds: params.recoveryHoldSeconds });
          results.push({ id: job.id, status: 'completed' });
        } catch (error) {
          log(`could not handle ${parsed.event.type} (job ${job.id}), it will be retried: ${errorText(error)}`);
          results.push({ id: job.id, status: 'failed', output: { error: errorText(error) } });
        }
      }
      return results;
    },
  );

  // Deliveries run side by side, one job per local worker: `overall` workers, and at most
  // `perChannel` jobs of one channel (the job's group) at a time in this process (pg-boss's local
  // group limit, exact: its global one counts the active jobs as it fetches, and let 5 of a channel
  // through when several workers fetched at once). A slow or timing-out channel so holds its own
  // slots only; the others go on. A worker done with a job fetches the next at once
  // (wakeDeliveryWorkers) instead of after its poll: that job may have freed its channel's slot.
  const concurrency = { ...DEFAULT_DELIVERY_CONCURRENCY, ...params.deliveryConcurrency };
  const perChannel = Math.max(1, Math.floor(concurrency.perChannel));
  let deliveryWorker = '';
  const wakeDeliveryWorkers = () => {
    for (const worker of boss.getWipData()) if (worker.workId === deliveryWorker) boss.notifyWorker(worker.id);
  };
  deliveryWorker = await boss.work(
    ALERT_DELIVERY_QUEUE,
    {
      batchSize: 1,
      localConcurrency: Math.max(1, Math.floor(concurrency.overall)),
      localGroupConcurrency: perChannel,
      includeMetadata: true,
      perJobResults: true,
      pollingIntervalSeconds: polling,
      notifyPollingIntervalSeconds: polling,
    },
    async (jobs) => {
      const results: JobResult[] = [];
      for (const job of jobs) {
        try {
          const { result, retryAfterSeconds } = await deliverAlertAttempt(db, {
            keyring,
            data: job.data,
            retryCount: job.retryCount,
            retryLimit: job.retryLimit,
            timeoutMs: params.sendTimeoutMs,
          });
          if (result === 'delivered' || result === 'skipped') results.push({ id: job.id, status: 'completed', output: { result } });
          else if (result === 'retry' && retryAfterSeconds !== undefined) {
            await retryNoSoonerThan(db, boss, { id: job.id, retryCount: job.retryCount }, { result, retryAfterSeconds }, retryAfterSeconds);
            results.push({ id: job.id, status: 'settled' });
          } else results.push({ id: job.id, status: 'failed', output: { result } });
        } catch (error) {
          // Recording failed (database trouble): let pg-boss run the job again.
          log(`delivery job ${job.id} could not be recorded, it will be retried: ${errorText(error)}`);
          results.push({ id: job.id, status: 'failed', output: { error: errorText(error) } });
        }
      }
      wakeDeliveryWorkers();
      return results;
    },
  );

  // Delivery jobs pg-boss gave up on: a last try lost with its worker still needs its final attempt.
  const deadWorker = await boss.work(
    ALERT_DELIVERY_DEAD_QUEUE,
    { batchSize: 10, includeMetadata: true, pollingIntervalSeconds: polling, notifyPollingIntervalSeconds: polling },
    async (jobs) => {
      for (const job of jobs) {
        if (await giveUpDelivery(db, { data: job.data, retryCount: job.sourceRetryCount, output: job.sourceOutput })) {
          log(`delivery job ${job.sourceId ?? job.id} was given up with its last try lost: recorded as failed`);
        }
      }
    },
  );

  return {
    async stop() {
      await boss.offWork(PLATFORM_EVENTS_QUEUE, { id: eventsWorker, wait: true });
      await boss.offWork(ALERT_DELIVERY_QUEUE, { id: deliveryWorker, wait: true });
      await boss.offWork(ALERT_DELIVERY_DEAD_QUEUE, { id: deadWorker, wait: true });
    },
  };
}

/** "Send test alert": recorded like any alert (and in the audit trail), delivered by the worker. */
export async function sendTestAlert(
  db: DatabaseOrTransaction,
  boss: PgBoss,
  params: { channelId: string; actor: string; correlationId?: string },
): Promise<{ alertId: string }> {
  return db.transaction(async (tx) => {
    const [channel] = await tx
      .select({ id: alertChannels.id, name: alertChannels.name })
      .from(alertChannels)
      .where(eq(alertChannels.id, params.channelId));
    if (!channel) throw new AppError('not_found', `alert channel ${params.channelId} does not exist (deleted?); reload the channel list`);
    const { alertId } = await raiseAlert(tx, {
      boss,
      incidentId: null,
      channelIds: [channel.id],
      message: testMessage({ channelName: channel.name, actor: params.actor, at: new Date().toISOString() }),
    });
    await recordAction(tx, {
      actor: params.actor,
      action: 'alert_test',
      details: { channel: channel.name, channelId: channel.id, alertId },
      correlationId: params.correlationId,
    });
    return { alertId };
  });
}
