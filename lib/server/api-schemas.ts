import { z } from 'zod';
import { runStatusEnum, runTriggerEnum } from '../../db/schema';
import { LIVE_VIEWS } from '../platform/read-models/live-fingerprint';
import { ZRunFilter } from '../platform/read-models/run-queries';
import { ZBulkPace, ZRetryMatchingFilter } from '../platform/triggers/triggers';

/**
 * The JSON API's schemas: the route handlers validate their input with these, and the OpenAPI
 * document (lib/server/openapi.ts) is generated from the same objects, so the description cannot
 * drift from what the routes accept. Responses are described here too (dates are ISO strings).
 */

const uuid = z.uuid();
const instant = z.iso.datetime({ offset: true });
const status = z.enum(runStatusEnum.enumValues);
const trigger = z.enum(runTriggerEnum.enumValues);

// --- requests ----------------------------------------------------------------------------------

export const ZIntegrationsQuery = z.object({
  search: z.string().max(200).optional().meta({ description: 'Part of a name or description' }),
});

export const ZRunNowBody = z
  .object({
    dryRun: z.boolean().default(false).meta({ description: 'Run against the real system without committing anything' }),
    reason: z.string().trim().max(500).optional(),
  })
  .strict();

export const ZRetryRunBody = z.object({ reason: z.string().trim().max(500).optional() }).strict();
/** `{ "reason": "..." }` (optional): kept on the run and in its audit row, as a retry's is. */
export const ZCancelRunBody = ZRetryRunBody;

const ZPace = ZBulkPace.meta({
  description: 'At most `runs` (1 to 500) released per `per` (a duration from 100ms to 1h: 30s, 1m, 1h) per integration',
  example: { runs: 20, per: '1m' },
});

/**
 * A bulk retry names its runs or gives the Runs list's filter (the console's "Retry all matching",
 * with the same schema as its action), exactly one of the two; either with a pace.
 */
export const ZBulkRetryBody = z
  .object({
    runIds: z
      .array(z.string().uuid('runIds must be run ids'))
      .min(1)
      .max(500)
      .optional()
      .meta({ description: 'The runs to retry (1 to 500), all failed or cancelled and not retried yet. Not with `filter`.' }),
    filter: ZRetryMatchingFilter.optional().meta({
      description:
        "Retry the runs the Runs list's filter matches (status failed or cancelled) that were not retried yet, oldest first, at most 500. Not with `runIds`.",
    }),
    pace: ZPace.optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if (body.runIds !== undefined && body.filter !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['filter'],
        message: 'cannot be given with runIds: send runIds to retry those runs, or filter to retry the runs it matches, not both',
      });
    } else if (body.runIds === undefined && body.filter === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['runIds'],
        message: 'is missing: send runIds (the runs to retry) or filter (retry the failed or cancelled runs it matches)',
      });
    }
  });

export const ZBulkPaceBody = z.object({ pace: ZPace }).strict();

export const ZRunStatusesQuery = z.object({
  ids: z
    .string({ error: (issue) => (issue.input === undefined ? 'is required: up to 200 run ids, comma-separated' : undefined) })
    .max(200 * 37)
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.string().uuid('ids must be run ids')).max(200))
    .meta({ description: 'Up to 200 run ids, comma-separated' }),
});

export { ZRunFilter as ZRunsQuery };

export const ZChangesQuery = z
  .object({
    view: z.enum(LIVE_VIEWS, { error: `must be one of ${LIVE_VIEWS.join(', ')}` }).meta({
      description: 'The console page: overview, integrations (the list), integration (one, named by `integration`), alerts or audit',
    }),
    integration: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .meta({ description: "view=integration: the integration's name (required); view=alerts: only that integration's alerts" }),
  })
  .superRefine((q, ctx) => {
    if (q.view === 'integration' && !q.integration) {
      ctx.addIssue({ code: 'custom', path: ['integration'], message: "is required with view=integration: the integration's name" });
    }
    if (q.integration && (q.view === 'overview' || q.view === 'integrations' || q.view === 'audit')) {
      ctx.addIssue({ code: 'custom', path: ['integration'], message: `is not taken with view=${q.view}: it covers every integration` });
    }
  });

// --- responses ---------------------------------------------------------------------------------

export const ZErrorResponse = z
  .object({
    error: z.string().meta({ description: 'What went wrong and what to do, in a sentence' }),
    fieldErrors: z.record(z.string(), z.string()).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'Error' });

export const ZMeResponse = z.object({
  user: z.object({
    id: uuid,
    name: z.string().meta({ description: "The user's name, or 'token <name> (created by <admin>)' for an API token" }),
    email: z.string(),
    role: z.enum(['viewer', 'operator', 'admin']),
    tokenId: uuid.optional(),
  }),
});

const ZInventoryItem = z.looseObject({
  name: z.string(),
  description: z.string(),
  registered: z.boolean(),
  paused: z.boolean(),
  schedule: z.string().nullable(),
  timezone: z.string(),
  breakerKey: z.string(),
  breakerState: z.enum(['closed', 'open', 'half_open']),
  breakerOpenUntil: instant.nullable(),
  breakerForcedOpen: z.boolean(),
  breakerFailures: z.number().int(),
  lastRun: z.object({ id: uuid, status, createdAt: instant, finishedAt: instant.nullable() }).nullable(),
  successRate24h: z.number().nullable(),
  state: z.string(),
  health: z.string().meta({
    description:
      'The state with the pause left out: equal to state unless paused, when it says what the pause does not stop (breaker_open, credentials_failing, failing) or healthy, new',
  }),
  failingReasons: z
    .array(
      z.object({
        kind: z.string().meta({ description: 'An incident kind (events_failed, run_failed, credentials, …) or last_run' }),
        text: z.string().meta({ description: "Why, in words: '3 failed webhook events', 'last run failed'" }),
        since: instant,
        incidentOpen: z.boolean(),
        href: z.string().meta({ description: 'The console page where it is acted on' }),
        action: z.string(),
      }),
    )
    .meta({ description: "Why the health is 'failing' (empty otherwise)" }),
});
export const ZIntegrationsResponse = z.object({ items: z.array(ZInventoryItem) });

export const ZRunListItem = z
  .looseObject({
    id: uuid,
    integration: z.string(),
    trigger,
    dryRun: z.boolean(),
    status,
    triggeredBy: z.string(),
    retryOf: uuid.nullable(),
    attemptCount: z.number().int(),
    maxAttempts: z.number().int(),
    progressDone: z.number().int().nullable(),
    progressTotal: z.number().int().nullable(),
    errorMessage: z.string().nullable(),
    nextAttemptAt: instant.nullable(),
    createdAt: instant,
    startedAt: instant.nullable(),
    finishedAt: instant.nullable(),
    retriedBy: uuid.nullable(),
  })
  .meta({ id: 'RunListItem' });
export const ZRunsResponse = z.object({
  items: z.array(ZRunListItem),
  next: z.string().nullable().meta({ description: 'Pass as `after` for the next page; null on the last page' }),
});

export const ZRunStatusesResponse = z.object({
  items: z.array(
    z.object({
      id: uuid,
      status,
      attemptCount: z.number().int(),
      progressDone: z.number().int().nullable(),
      progressTotal: z.number().int().nullable(),
      nextAttemptAt: instant.nullable(),
      finishedAt: instant.nullable(),
      errorMessage: z.string().nullable(),
      hold: z.enum(['pace', 'breaker']).nullable(),
    }),
  ),
});

export const ZRunDetailResponse = z.object({
  run: z.looseObject({
    id: uuid,
    integration: z.string(),
    status,
    trigger,
    dryRun: z.boolean(),
    correlationId: z.string(),
    attemptCount: z.number().int(),
    createdAt: instant,
    retriedAt: instant.nullable().meta({ description: 'When the run was first retried (its first retry was created); null: not retried' }),
  }),
  attempts: z.array(
    z.looseObject({
      id: uuid,
      number: z.number().int(),
      outcome: z.enum(['running', 'succeeded', 'failed', 'deferred', 'cancelled', 'interrupted']),
      startedAt: instant,
      finishedAt: instant.nullable(),
      errorMessage: z.string().nullable(),
      logs: z.array(z.looseObject({ at: instant, level: z.string(), message: z.string() })),
    }),
  ),
  retries: z.array(z.object({ id: uuid, status, createdAt: instant, triggeredBy: z.string() })),
});

export const ZRunNowResponse = z.object({
  runId: uuid,
  deduplicated: z
    .boolean()
    .meta({ description: 'true: the same kind of run was queued and not started when the request arrived; that run is returned' }),
});
export const ZRetryRunResponse = z.object({ runId: uuid });
export const ZBulkRetryResponse = z.object({
  bulkOperationId: uuid.nullable().meta({ description: 'The bulk operation that releases the retries; null when nothing was retried' }),
  queued: z.number().int().meta({ description: 'How many retries were queued (the length of runIds); 0: no run matched the filter' }),
  runIds: z.array(uuid).meta({ description: 'The new runs, oldest original first' }),
});
export const ZCancelRunResponse = z.object({ runId: uuid, cancelled: z.literal(true) });
const pace = z.object({ runs: z.number().int(), per: z.string() });
export const ZBulkPaceResponse = z.object({
  bulkOperationId: uuid,
  pace: pace.meta({ description: 'The pace from now on' }),
  previous: pace.meta({ description: 'The pace before the change' }),
});
export const ZBulkOperationsResponse = z.object({
  items: z.array(
    z.looseObject({
      id: uuid,
      createdBy: z.string(),
      createdAt: instant,
      total: z.number().int(),
      status: z.enum(['active', 'done', 'cancelled']),
      runIds: z.array(uuid),
    }),
  ),
});

export const ZChangesResponse = z.object({
  view: z.enum(LIVE_VIEWS),
  fingerprint: z.string().meta({ description: 'Opaque; it changes when what the page shows changes. Compare it with the last one' }),
});

const ZCheck = z.object({ ok: z.boolean(), detail: z.string() });
export const ZHealthResponse = z.object({ status: z.enum(['ok', 'degraded']), database: ZCheck, migrations: ZCheck, worker: ZCheck });
