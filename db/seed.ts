import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import { auditEntries, flatFields, type StoredConfig } from '../lib/platform/alerts/channel-changes';
import { recordHandledFailure } from '../lib/platform/alerts/incidents';
import { failureCause, runFailedMessage } from '../lib/platform/alerts/messages';
import type { Keyring } from '../lib/platform/governance/crypto';
import { writeSecrets } from '../lib/platform/governance/secrets';
import { logBatchInsert } from '../lib/platform/log';
import { reopenRunHours } from '../lib/platform/read-models/run-rollup';
import type { RegistrationBackdate } from '../lib/platform/registry';
import type { Database, Transaction } from './client';
import { generateHostData } from './host-data';
import {
  alertChannels,
  alertDeliveries,
  alerts,
  appMeta,
  attempts,
  auditLog,
  incidents,
  integrations,
  integrationSecrets,
  invoicePaymentHistory,
  invoices,
  paymentPayouts,
  runs,
  webhookEvents,
  webhookOrdering,
  webhookRejections,
} from './schema';

const SEED_MARKER = 'demo_seeded';

const DAY = 86_400_000;
const MINUTE = 60_000;
/** When the demo integrations were registered: before their history (15 days of runs and changes). */
const REGISTERED_DAYS_AGO = 16;
/**
 * The shipped integrations the demo writes history for: only these are registered as of
 * REGISTERED_DAYS_AGO. Any other present at the first start (one a developer just added) is
 * registered now, or its History would say it was registered before it was written.
 */
export const DEMO_INTEGRATIONS = ['accounting-export', 'crm-sync', 'payment-events'] as const;
/** When Ada made the demo alert channel. */
const CHANNEL_DAYS_AGO = 10;

export interface SeedOptions {
  /**
   * Sync the registry first, so the integrations the demo history belongs to exist; `backdate`
   * dates the demo integrations' registration before their history (syncRegistry's backdate).
   */
  syncIntegrations: (db: Database, backdate: RegistrationBackdate) => Promise<void>;
  sandboxUrl: string;
  /** The console's URL, for the links in the demo alert. */
  appUrl: string;
  /** Seals the demo credentials of the sandbox systems. */
  keyring: Keyring;
  /** Credentials the sandbox stand-ins accept, stored as the integrations' secrets. */
  credentials: Record<string, Record<string, string>>;
  now?: Date;
}

function at(now: Date, msAgo: number): Date {
  return new Date(now.getTime() - msAgo);
}

async function seedRun(
  tx: Transaction,
  params: {
    integration: string;
    status: 'succeeded' | 'failed';
    createdAt: Date;
    attempts: { ok: boolean; error?: string; durationMs: number; logs: string[] }[];
    result?: Record<string, unknown>;
    errorMessage?: string;
    trigger?: 'schedule' | 'manual' | 'event';
    triggeredBy?: string;
    correlationId?: string;
  },
): Promise<string> {
  const runId = randomUUID();
  let clock = params.createdAt.getTime() + 400;
  const attemptRows = params.attempts.map((a, i) => {
    const startedAt = new Date(clock);
    const finishedAt = new Date(clock + a.durationMs);
    clock = finishedAt.getTime() + (i === 0 ? 30_000 : i === 1 ? 120_000 : 300_000);
    return {
      id: randomUUID(),
      runId,
      number: i + 1,
      worker: 'demo-worker',
      outcome: a.ok ? ('succeeded' as const) : ('failed' as const),
      errorMessage: a.error ?? null,
      errorClass: a.ok ? null : 'HttpError',
      startedAt,
      finishedAt,
      logs: a.logs,
    };
  });
  const last = attemptRows[attemptRows.length - 1];
  await tx.insert(runs).values({
    id: runId,
    integration: params.integration,
    trigger: params.trigger ?? 'schedule',
    triggeredBy: params.triggeredBy ?? 'schedule',
    status: params.status,
    correlationId: params.correlationId ?? randomUUID(),
    attemptCount: attemptRows.length,
    maxAttempts: 4,
    result: params.result ?? null,
    errorMessage: params.errorMessage ?? null,
    errorClass: params.status === 'failed' ? 'HttpError' : null,
    progressDone: (params.result?.processed as number | undefined) ?? null,
    progressTotal: (params.result?.processed as number | undefined) ?? null,
    createdAt: params.createdAt,
    startedAt: attemptRows[0].startedAt,
    finishedAt: last.finishedAt,
  });
  await tx.insert(attempts).values(attemptRows.map(({ logs: _, ...a }) => ({ ...a, runCreatedAt: params.createdAt })));
  for (const a of attemptRows) {
    if (a.logs.length === 0) continue;
    const lines = a.logs.map((message, k) => ({
      at: new Date(a.startedAt.getTime() + k * 50),
      level: message.startsWith('error') ? ('error' as const) : ('info' as const),
      message,
      data: null,
    }));
    await tx.execute(logBatchInsert({ attemptId: a.id, runCreatedAt: params.createdAt }, lines));
  }
  return runId;
}

/**
 * Seeds the demo once per database (a marker row makes later starts skip it): the host platform's
 * customers and invoices, two weeks of nightly export history, a CRM sync whose last runs failed
 * and wait for a retry, the incident and delivered alert they raised, and config history by
 * several people, and the payment provider's recent webhooks (payment-events' Events tab), one of
 * them refused, with the incident and delivered alert it raised. Returns true when it seeded now.
 */
export async function seedDemo(db: Database, options: SeedOptions): Promise<boolean> {
  const [existing] = await db.select().from(appMeta).where(eq(appMeta.key, SEED_MARKER));
  if (existing) return false;
  const now = options.now ?? new Date();
  await options.syncIntegrations(db, { names: DEMO_INTEGRATIONS, at: at(now, REGISTERED_DAYS_AGO * DAY) });
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(appMeta)
      .values({ key: SEED_MARKER, value: { at: now.toISOString() } })
      .onConflictDoNothing()
      .returning();
    if (inserted.length === 0) return false;
    // Runs of the past hours: the inventory's rollup must count them (a worker may have sealed those hours).
    await reopenRunHours(tx);
    await generateHostData(tx, { customers: 24, invoices: 300, seed: 7, spreadDays: 14, until: now });
    // The demo integrations have existed since before their history (15 days of runs, credentials
    // and config changes): their rows say so, or the console would show changes older than them.
    await tx
      .update(integrations)
      .set({ createdAt: at(now, REGISTERED_DAYS_AGO * DAY) })
      .where(inArray(integrations.name, [...DEMO_INTEGRATIONS]));

    // Two weeks of nightly exports at 02:00 UTC, one of which needed a retry.
    for (let night = 14; night >= 1; night--) {
      const created = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - night, 2, 0, 0));
      const processed = 12 + ((night * 7) % 17);
      const flaky = night === 9;
      await seedRun(tx, {
        integration: 'accounting-export',
        status: 'succeeded',
        createdAt: created,
        result: { processed, summary: `Booked ${processed} journal entries in 1 batches; 0 rejected`, batches: 1, rejectedCount: 0 },
        attempts: [
          ...(flaky
            ? [
                {
                  ok: false,
                  durationMs: 30_000,
                  error: `POST ${options.sandboxUrl}/accounting/v1/journal-entries timed out after 30000 ms`,
                  logs: [`exporting ${processed} invoices`, 'error: request timed out'],
                },
              ]
            : []),
          {
            ok: true,
            durationMs: 1_800 + night * 40,
            logs: [
              `exporting ${processed} invoices changed since the last run`,
              `batch 1: booked ${processed}, rejected 0`,
              `Booked ${processed} journal entries in 1 batches; 0 rejected`,
            ],
          },
        ],
      });
    }

    // The CRM sync ran fine, then the CRM answered 503 for its last three runs: failed, awaiting retry.
    for (let k = 8; k >= 4; k--) {
      await seedRun(tx, {
        integration: 'crm-sync',
        status: 'succeeded',
        createdAt: at(now, k * 15 * MINUTE + 3 * 60 * MINUTE),
        result: {
          processed: 3 + k,
          summary: `Created 0, updated ${k % 3}, ${3 + k - (k % 3)} unchanged`,
          created: 0,
          updated: k % 3,
          unchanged: 3 + k - (k % 3),
          pages: 1,
        },
        attempts: [{ ok: true, durationMs: 420, logs: ['pulling contacts changed since the last cursor', `page 1: ${3 + k} contacts`] }],
      });
    }
    const failure = `GET ${options.sandboxUrl}/crm/v1/contacts answered 503: {"error":"service_unavailable","message":"CRM maintenance window"}`;
    const failedRunIds: string[] = [];
    // The first failed run's, which its alert names.
    const failedCorrelationId = randomUUID();
    for (let k = 3; k >= 1; k--) {
      failedRunIds.push(
        await seedRun(tx, {
          integration: 'crm-sync',
          status: 'failed',
          correlationId: k === 3 ? failedCorrelationId : undefined,
          createdAt: at(now, k * 15 * MINUTE + 2 * 60 * MINUTE),
          errorMessage: failure,
          attempts: [1, 2, 3, 4].map(() => ({
            ok: false,
            durationMs: 250,
            error: failure,
            logs: ['pulling contacts changed since the last cursor', `error: ${failure}`],
          })),
        }),
      );
    }

    // The incident those failures raised, and its alert, delivered to the sandbox webhook catcher.
    // The channel was made by Ada ten days ago, through the console as far as the trail can tell:
    // its creation rows are below, so the configuration check compares every field of it.
    const channelCreated = at(now, CHANNEL_DAYS_AGO * DAY);
    const [channel] = await tx
      .insert(alertChannels)
      .values({
        name: 'Ops webhook (sandbox)',
        type: 'webhook',
        config: { url: `${options.sandboxUrl}/catcher/webhook/ops` },
        updatedBy: 'ada.admin@junction.local',
        createdAt: channelCreated,
        updatedAt: channelCreated,
      })
      .returning();
    const firstFailure = at(now, 3 * 15 * MINUTE + 2 * 60 * MINUTE);
    const [incident] = await tx
      .insert(incidents)
      .values({
        integration: 'crm-sync',
        kind: 'run_failed',
        openedAt: firstFailure,
        lastEventAt: at(now, 15 * MINUTE + 2 * 60 * MINUTE),
        eventCount: 3,
        failedRuns: 3,
        failedEvents: 0,
        lastError: failure,
        runId: failedRunIds[0],
        // As the worker records its opening cause (failureCause): a permanent one of another sends an update.
        alertedCauses: [failureCause({ errorClass: 'HttpError', error: failure, reason: 'retries_exhausted' })],
      })
      .returning();
    // The alert the worker would have raised for the first run that failed, in the platform's words.
    const alertedAt = new Date(firstFailure.getTime() + 8 * MINUTE);
    const opening = runFailedMessage({
      incidentId: incident.id,
      appUrl: options.appUrl,
      integration: 'crm-sync',
      runId: failedRunIds[0],
      attempts: 4,
      error: failure,
      errorClass: 'HttpError',
      reason: 'retries_exhausted',
      startedAt: firstFailure.toISOString(),
      at: alertedAt.toISOString(),
      correlationId: failedCorrelationId,
    });
    const [alert] = await tx
      .insert(alerts)
      .values({
        incidentId: incident.id,
        event: 'opened',
        integration: 'crm-sync',
        title: opening.title,
        body: opening,
        status: 'delivered',
        channelIds: [channel.id],
        createdAt: alertedAt,
      })
      .returning();
    await tx.insert(alertDeliveries).values({
      alertId: alert.id,
      channelId: channel.id,
      attempt: 1,
      status: 'delivered',
      responseCode: 200,
      final: true,
      at: new Date(alertedAt.getTime() + 300),
    });

    // Credentials for the sandbox systems, sealed like any admin-entered secret.
    for (const [integration, values] of Object.entries(options.credentials)) {
      const written = await writeSecrets(tx, { integration, values, actor: 'demo-seed', keyring: options.keyring });
      for (const w of written) {
        await tx.insert(auditLog).values({
          changedAt: at(now, 15 * DAY),
          changedBy: 'demo-seed',
          kind: 'config',
          integration,
          fieldName: `secret.${w.name}`,
          oldValue: null,
          newValue: { set: true },
          correlationId: randomUUID(),
        });
      }
    }

    // Configuration history by different people (the current values are the last new values).
    const history: {
      who: string;
      daysAgo: number;
      integration: string | null;
      field: string;
      old: unknown;
      new: unknown;
      kind?: string;
      correlationId?: string;
    }[] = [
      {
        who: 'ada.admin@junction.local',
        daysAgo: 12,
        integration: 'accounting-export',
        field: 'schedule',
        old: '0 1 * * *',
        new: '0 2 * * *',
      },
      {
        who: 'grace.admin@junction.local',
        daysAgo: 9,
        integration: 'accounting-export',
        field: 'retryDelays',
        old: ['1m', '5m'],
        new: ['30s', '2m', '5m'],
      },
      { who: 'grace.admin@junction.local', daysAgo: 6, integration: 'accounting-export', field: 'settings.batchSize', old: 50, new: 100 },
      { who: 'ada.admin@junction.local', daysAgo: 4, integration: 'crm-sync', field: 'breakerFailures', old: 5, new: 3 },
      { who: 'oscar.operator@junction.local', daysAgo: 2, integration: 'crm-sync', field: 'pause', old: null, new: null, kind: 'action' },
      {
        who: 'oscar.operator@junction.local',
        daysAgo: 1.9,
        integration: 'crm-sync',
        field: 'resume',
        old: null,
        new: null,
        kind: 'action',
      },
    ];
    // The alert channel's creation, as createChannel audits it (one change, one correlation id).
    const channelChange = randomUUID();
    const created = auditEntries(channel.name, null, flatFields(channel.name, 'webhook', channel.enabled, channel.config as StoredConfig), {
      field: 'hmacSecret',
      hadSecret: false,
      change: { kind: 'keep' },
      previousField: null,
    });
    for (const e of created)
      history.push({
        who: 'ada.admin@junction.local',
        daysAgo: CHANNEL_DAYS_AGO,
        integration: null,
        field: e.fieldName,
        old: e.oldValue,
        new: e.newValue,
        correlationId: channelChange,
      });
    // In time order: the trail's ids and its times agree.
    history.sort((a, b) => b.daysAgo - a.daysAgo);
    for (const h of history) {
      await tx.insert(auditLog).values({
        changedAt: at(now, h.daysAgo * DAY),
        changedBy: h.who,
        kind: h.kind ?? 'config',
        integration: h.integration,
        fieldName: h.field,
        oldValue: h.old,
        newValue: h.new,
        correlationId: h.correlationId ?? randomUUID(),
      });
    }

    // The pages must agree with that history: a secret audited as set 15 days ago was set then
    // (not at seed time), and each integration's version and "last changed by" come from its
    // newest configuration change, not "Version 1, last changed by system".
    await tx
      .update(integrationSecrets)
      .set({ updatedAt: at(now, 15 * DAY), updatedBy: 'demo-seed' })
      .where(eq(integrationSecrets.updatedBy, 'demo-seed'));
    await tx.execute(sql`
      update integrations i set version = 1 + c.changes, updated_at = c.last_at, updated_by = c.last_by
      from (
        select integration, count(distinct correlation_id)::int as changes, max(changed_at) as last_at,
               (array_agg(changed_by order by changed_at desc))[1] as last_by
        from audit_log where kind = 'config' and integration is not null group by integration
      ) c
      where i.name = c.integration`);
    await seedPaymentEvents(tx, { now, appUrl: options.appUrl, channelId: channel.id });
    return true;
  });
}

/**
 * The payment provider's webhooks of the last two hours (payment-events), so its Events tab is not
 * empty on a fresh start: payments, a refund, a payout, a duplicate delivery, a late older event
 * recorded stale, one refused by the handler (replayable), and refused deliveries (bad signature,
 * stale timestamp, wrong content type). The invoices and their payment timelines agree. The
 * refused event opened the events_failed incident, whose alert reached the channel `channelId`.
 */
async function seedPaymentEvents(tx: Transaction, params: { now: Date; appUrl: string; channelId: string }): Promise<void> {
  const { now } = params;
  const posted = await tx
    .select({ id: invoices.id, number: invoices.number, gross: invoices.grossTotal, currency: invoices.currency })
    .from(invoices)
    .where(eq(invoices.status, 'posted'))
    .orderBy(invoices.number)
    .limit(6);
  if (posted.length < 6) return;
  const base = now.getTime() - 2 * 60 * MINUTE;
  const runAt = new Date(base + 61 * MINUTE);
  const refusedAt = new Date(runAt.getTime() + 500);
  const payment = (i: number) => `pay_demo${String(i + 1).padStart(4, '0')}`;
  const payoutId = 'po_demo0001';
  const payoutAmount = [1, 2, 3].reduce((sum, i) => sum + Number(posted[i].gross), 0).toFixed(2);
  type Seeded = {
    type: string;
    key: string;
    version: number;
    minutes: number;
    data: Record<string, unknown>;
    status: 'processed' | 'stale' | 'failed';
    outcome?: string;
    duplicates?: number;
  };
  const events: Seeded[] = posted.map((inv, i) => ({
    type: 'payment.succeeded',
    key: payment(i),
    version: 1,
    minutes: 5 + i * 9,
    data: { payment_id: payment(i), invoice_number: inv.number, amount: inv.gross, currency: inv.currency, sequence: 1 },
    status: 'processed',
    duplicates: i === 2 ? 2 : 0,
  }));
  events.push({
    type: 'payment.refunded',
    key: payment(0),
    version: 2,
    minutes: 58,
    data: { payment_id: payment(0), invoice_number: posted[0].number, amount: posted[0].gross, currency: posted[0].currency, sequence: 2 },
    status: 'processed',
  });
  events.push({
    type: 'payment.succeeded',
    key: payment(0),
    version: 1,
    minutes: 59,
    data: { payment_id: payment(0), invoice_number: posted[0].number, amount: posted[0].gross, currency: posted[0].currency, sequence: 1 },
    status: 'stale',
    outcome: `stale: version 1 of ${payment(0)} arrived after version 2 (event evt_demo0007) was applied; not applied`,
  });
  events.push({
    type: 'payout.paid',
    key: payoutId,
    version: 1,
    minutes: 60,
    data: {
      payout_id: payoutId,
      payment_ids: [payment(1), payment(2), payment(3)],
      amount: payoutAmount,
      currency: posted[1].currency,
      sequence: 1,
    },
    status: 'processed',
  });
  events.push({
    type: 'payment.succeeded',
    key: 'pay_demo0404',
    version: 1,
    minutes: 60,
    data: { payment_id: 'pay_demo0404', invoice_number: 'INV-404', amount: '10.00', currency: 'EUR', sequence: 1 },
    status: 'failed',
    outcome: 'refused by the handler: event evt_demo0010: invoice INV-404 does not exist on the host',
  });
  const correlationId = randomUUID();
  const runId = await seedRun(tx, {
    correlationId,
    integration: 'payment-events',
    status: 'succeeded',
    createdAt: runAt,
    trigger: 'event',
    triggeredBy: 'webhook',
    result: { processed: 8, stale: 1, failed: 1, summary: 'Events: 8 applied, 1 stale (older than an applied version), 1 failed' },
    attempts: [
      {
        ok: true,
        durationMs: 180,
        logs: [
          `event evt_demo0008 (payment.succeeded) ${events[7].outcome}`,
          `error: event failed permanently: ${events[9].outcome}`,
          'Events: 8 applied, 1 stale (older than an applied version), 1 failed',
        ],
      },
    ],
  });
  await tx.insert(webhookEvents).values(
    events.map((e, i) => {
      const eventId = `evt_demo${String(i + 1).padStart(4, '0')}`;
      const receivedAt = new Date(base + e.minutes * MINUTE);
      return {
        integration: 'payment-events',
        eventId,
        eventType: e.type,
        orderingKey: e.key,
        version: e.version,
        status: e.status,
        payload: { id: eventId, type: e.type, created: Math.floor(receivedAt.getTime() / 1000), data: e.data },
        signedAt: receivedAt,
        duplicates: e.duplicates ?? 0,
        lastDuplicateAt: e.duplicates ? new Date(receivedAt.getTime() + 40_000) : null,
        receivedAt,
        startedAt: runAt,
        processedAt: refusedAt,
        runId,
        outcome: e.outcome ?? null,
        // Refused: left for alerting to announce, as the run marks it (intake/process.ts).
        refusalUnannouncedAt: e.status === 'failed' ? refusedAt : null,
      };
    }),
  );
  // Alerting handled that refusal: the events_failed incident it opened (which Replay or Dismiss
  // closes), and its alert, delivered like the CRM's. payment-events reads failing because of it.
  const refused = events.findIndex((e) => e.status === 'failed');
  const recorded = await recordHandledFailure(tx, {
    appUrl: params.appUrl,
    event: {
      type: 'events.failed',
      collect: true,
      at: refusedAt.toISOString(),
      integration: 'payment-events',
      runId,
      eventId: `evt_demo${String(refused + 1).padStart(4, '0')}`,
      eventType: events[refused].type,
      reason: events[refused].outcome!,
      correlationId,
    },
  });
  if (recorded?.change !== 'opened') throw new Error(`the demo's refused event opened no incident (${recorded?.change ?? 'none'})`);
  const alertedAt = new Date(refusedAt.getTime() + 2_000);
  const [alert] = await tx
    .insert(alerts)
    .values({
      incidentId: recorded.incident.id,
      event: 'opened',
      integration: 'payment-events',
      title: recorded.message.title,
      body: recorded.message,
      status: 'delivered',
      channelIds: [params.channelId],
      createdAt: alertedAt,
    })
    .returning();
  await tx.insert(alertDeliveries).values({
    alertId: alert.id,
    channelId: params.channelId,
    attempt: 1,
    status: 'delivered',
    responseCode: 200,
    final: true,
    at: new Date(alertedAt.getTime() + 300),
  });
  await tx.insert(webhookOrdering).values([
    ...posted.map((_, i) => ({
      integration: 'payment-events',
      orderingKey: payment(i),
      version: i === 0 ? 2 : 1,
      eventId: i === 0 ? 'evt_demo0007' : `evt_demo${String(i + 1).padStart(4, '0')}`,
      appliedAt: runAt,
    })),
    { integration: 'payment-events', orderingKey: payoutId, version: 1, eventId: 'evt_demo0009', appliedAt: runAt },
  ]);
  // The invoices as the handler left them, and their payment timelines.
  for (const [i, inv] of posted.entries()) {
    const paidAt = new Date(base + events[i].minutes * MINUTE);
    await tx
      .update(invoices)
      .set({
        paymentStatus: i === 0 ? 'refunded' : 'paid',
        paymentId: payment(i),
        paymentVersion: i === 0 ? 2 : 1,
        paidAt,
        refundedAt: i === 0 ? new Date(base + 58 * MINUTE) : null,
        payoutId: i >= 1 && i <= 3 ? payoutId : null,
        paidOutAt: i >= 1 && i <= 3 ? new Date(base + 60 * MINUTE) : null,
      })
      .where(eq(invoices.id, inv.id));
    const history = [
      { eventId: `evt_demo${String(i + 1).padStart(4, '0')}`, eventType: 'payment.succeeded', version: 1, payoutId: null as string | null },
      ...(i === 0 ? [{ eventId: 'evt_demo0007', eventType: 'payment.refunded', version: 2, payoutId: null }] : []),
      ...(i >= 1 && i <= 3 ? [{ eventId: 'evt_demo0009', eventType: 'payout.paid', version: 1, payoutId }] : []),
    ];
    for (const h of history)
      await tx.insert(invoicePaymentHistory).values({
        invoiceId: inv.id,
        eventId: h.eventId,
        eventType: h.eventType,
        paymentId: payment(i),
        payoutId: h.payoutId,
        version: h.version,
        amount: inv.gross,
        currency: inv.currency,
        appliedAt: runAt,
      });
  }
  await tx.insert(paymentPayouts).values(
    [1, 2, 3].map((i) => ({
      paymentId: payment(i),
      payoutId,
      eventId: 'evt_demo0009',
      version: 1,
      amount: payoutAmount,
      currency: posted[1].currency,
      paidOutAt: new Date(base + 60 * MINUTE),
      recordedAt: runAt,
    })),
  );
  await tx.insert(webhookRejections).values([
    {
      integration: 'payment-events',
      status: 401,
      reason: 'bad signature',
      eventId: 'evt_forged01',
      contentType: 'application/json',
      contentLength: 212,
      remote: '203.0.113.9',
      receivedAt: new Date(base + 20 * MINUTE),
    },
    {
      integration: 'payment-events',
      status: 401,
      reason: 'stale timestamp',
      eventId: 'evt_demo0003',
      contentType: 'application/json',
      contentLength: 230,
      remote: '198.51.100.7',
      receivedAt: new Date(base + 31 * MINUTE),
    },
    {
      integration: 'payment-events',
      status: 415,
      reason: 'content type must be application/json',
      contentType: 'text/plain',
      contentLength: 17,
      remote: '198.51.100.7',
      receivedAt: new Date(base + 44 * MINUTE),
    },
  ]);
}
