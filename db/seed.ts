import { randomUUID } from 'node:crypto';
import { eq, inArray, sql } from 'drizzle-orm';
import type { Keyring } from '../lib/platform/governance/crypto';
import { writeSecrets } from '../lib/platform/governance/secrets';
import type { Database, Transaction } from './client';
import { generateHostData } from './host-data';
import {
  alertChannels,
  alertDeliveries,
  alerts,
  appMeta,
  attemptLogs,
  attempts,
  auditLog,
  incidents,
  integrations,
  integrationSecrets,
  runs,
} from './schema';

const SEED_MARKER = 'demo_seeded';

const DAY = 86_400_000;
const MINUTE = 60_000;

export interface SeedOptions {
  /** Sync the registry first, so the integrations the demo history belongs to exist. */
  syncIntegrations: (db: Database) => Promise<void>;
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
    trigger?: 'schedule' | 'manual';
    triggeredBy?: string;
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
    correlationId: randomUUID(),
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
  await tx.insert(attempts).values(attemptRows.map(({ logs: _, ...a }) => a));
  const logRows = attemptRows.flatMap((a) =>
    a.logs.map((message, k) => ({
      attemptId: a.id,
      at: new Date(a.startedAt.getTime() + k * 50),
      level: message.startsWith('error') ? 'error' : 'info',
      message,
    })),
  );
  if (logRows.length) await tx.insert(attemptLogs).values(logRows);
  return runId;
}

/**
 * Seeds the demo once per database (a marker row makes later starts skip it): the host platform's
 * customers and invoices, two weeks of nightly export history, a CRM sync whose last runs failed
 * and wait for a retry, the incident and delivered alert they raised, and config history by
 * several people. Returns true when it seeded now.
 */
export async function seedDemo(db: Database, options: SeedOptions): Promise<boolean> {
  const [existing] = await db.select().from(appMeta).where(eq(appMeta.key, SEED_MARKER));
  if (existing) return false;
  await options.syncIntegrations(db);
  const now = options.now ?? new Date();
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(appMeta)
      .values({ key: SEED_MARKER, value: { at: now.toISOString() } })
      .onConflictDoNothing()
      .returning();
    if (inserted.length === 0) return false;
    await generateHostData(tx, { customers: 24, invoices: 300, seed: 7, spreadDays: 14, until: now });
    // The demo integrations have existed since before their history (15 days of runs, credentials
    // and config changes): their rows say so, or the console would show changes older than them.
    await tx
      .update(integrations)
      .set({ createdAt: at(now, 16 * DAY) })
      .where(inArray(integrations.name, ['accounting-export', 'crm-sync']));

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
    for (let k = 3; k >= 1; k--) {
      failedRunIds.push(
        await seedRun(tx, {
          integration: 'crm-sync',
          status: 'failed',
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
    const [channel] = await tx
      .insert(alertChannels)
      .values({
        name: 'Ops webhook (sandbox)',
        type: 'webhook',
        config: { url: `${options.sandboxUrl}/catcher/webhook/ops` },
        updatedBy: 'ada.admin@junction.local',
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
        lastError: failure,
        runId: failedRunIds[0],
      })
      .returning();
    const [alert] = await tx
      .insert(alerts)
      .values({
        incidentId: incident.id,
        event: 'opened',
        integration: 'crm-sync',
        title: 'crm-sync failed: retries exhausted',
        body: {
          event: 'incident.opened',
          kind: 'run_failed',
          incidentId: incident.id,
          integration: 'crm-sync',
          title: 'crm-sync failed: retries exhausted',
          text: `crm-sync failed after 4 attempts since ${firstFailure.toISOString()}. Last error: ${failure}`,
          runId: failedRunIds[0],
          runUrl: `${options.appUrl}/runs/${failedRunIds[0]}`,
          consoleUrl: `${options.appUrl}/runs/${failedRunIds[0]}`,
          correlationId: null,
          since: firstFailure.toISOString(),
          attempts: 4,
          lastError: failure,
          eventCount: 1,
          at: new Date(firstFailure.getTime() + 8 * MINUTE).toISOString(),
        },
        status: 'delivered',
        channelIds: [channel.id],
        createdAt: new Date(firstFailure.getTime() + 8 * MINUTE),
      })
      .returning();
    await tx.insert(alertDeliveries).values({
      alertId: alert.id,
      channelId: channel.id,
      attempt: 1,
      status: 'delivered',
      responseCode: 200,
      final: true,
      at: new Date(firstFailure.getTime() + 8 * MINUTE + 300),
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
    for (const h of history) {
      await tx.insert(auditLog).values({
        changedAt: at(now, h.daysAgo * DAY),
        changedBy: h.who,
        kind: h.kind ?? 'config',
        integration: h.integration,
        fieldName: h.field,
        oldValue: h.old,
        newValue: h.new,
        correlationId: randomUUID(),
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
    return true;
  });
}
