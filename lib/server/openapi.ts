import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import {
  ZBulkOperationsResponse,
  ZBulkPaceBody,
  ZBulkPaceResponse,
  ZBulkRetryBody,
  ZBulkRetryResponse,
  ZCancelRunBody,
  ZCancelRunResponse,
  ZChangesQuery,
  ZChangesResponse,
  ZErrorResponse,
  ZHealthResponse,
  ZIntegrationsQuery,
  ZIntegrationsResponse,
  ZMeResponse,
  ZRetryRunBody,
  ZRetryRunResponse,
  ZRunDetailResponse,
  ZRunNowBody,
  ZRunNowResponse,
  ZRunsQuery,
  ZRunsResponse,
  ZRunStatusesQuery,
  ZRunStatusesResponse,
} from './api-schemas';

/**
 * The OpenAPI 3.1 description of the JSON API (served at /api/openapi.json), generated with
 * zod-openapi from the schemas the route handlers validate with. Every route under app/api is
 * listed in API_OPERATIONS (test/openapi.test.ts fails when one is missing), each with an example
 * response that is checked against the generated schema.
 */

type Method = 'get' | 'post' | 'patch';

export interface ApiOperation {
  method: Method;
  /** OpenAPI path template: `/api/runs/{id}`. */
  path: string;
  summary: string;
  /** What the summary leaves out, before the role it needs. */
  description?: string;
  /** Named example request bodies, each checked against `body` (test/openapi.test.ts). */
  bodyExamples?: Record<string, { summary: string; value: unknown }>;
  /** The role the route needs; null: public (no session or token). */
  role: 'viewer' | 'operator' | null;
  query?: z.ZodObject;
  pathParams?: z.ZodObject;
  body?: z.ZodType;
  response: z.ZodType | 'text';
  example: unknown;
  /**
   * The refusals particular to this operation, by status, in words (what the caller should do).
   * The ones every operation of its kind can answer (400, 401, 403, 413, 422, 500) are added.
   */
  refusals?: Partial<Record<400 | 401 | 404 | 409 | 503, string>>;
  /** Not a `route()` handler (health, metrics, this document): no session or input, and no 400 unless `refusals` lists one. */
  plain?: true;
}

const RUN = '3f1e8a52-5c0b-4a1e-9d55-0b7f2b6f1c01';
const RUN2 = '7a2c9e10-1d4f-4b8a-8e6d-2c3b4a5d6e02';
const RUN3 = '9c4d2b7e-6a1f-4c3d-b8e9-1f0a2b3c4d03';
const AT = '2026-11-30T09:15:02.123Z';
const runIdParam = z.object({ id: z.uuid().meta({ description: 'Run id' }) });
const bulkIdParam = z.object({ id: z.uuid().meta({ description: 'Bulk operation id' }) });
const nameParam = z.object({ name: z.string().meta({ description: 'Integration name', example: 'accounting-export' }) });

const runListItem = {
  id: RUN,
  integration: 'accounting-export',
  trigger: 'api',
  dryRun: false,
  status: 'succeeded',
  triggeredBy: 'token nightly-ci (created by ada@example.com)',
  retryOf: null,
  attemptCount: 1,
  maxAttempts: 4,
  progressDone: 120,
  progressTotal: 120,
  errorMessage: null,
  nextAttemptAt: null,
  createdAt: AT,
  startedAt: AT,
  finishedAt: AT,
  hold: null,
  bulkOperationId: null,
  retriedBy: null,
};

export const API_OPERATIONS: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/health',
    summary: 'Liveness: 200 when the database is reachable, migrations are current and a worker beat in the last minute, else 503',
    role: null,
    plain: true,
    refusals: {
      400: 'A query parameter: this operation takes none (a load balancer or probe sends the bare path)',
      503: 'Degraded: the body names the part that is not working (database, migrations or worker)',
    },
    response: ZHealthResponse,
    example: {
      status: 'ok',
      database: { ok: true, detail: 'reachable' },
      migrations: { ok: true, detail: '13 of 13 applied' },
      worker: { ok: true, detail: 'last beat 4 s ago' },
    },
  },
  {
    method: 'get',
    path: '/api/me',
    summary: 'Who the caller is (a user, or an API token)',
    role: 'viewer',
    response: ZMeResponse,
    example: {
      user: { id: RUN2, name: 'token nightly-ci (created by ada@example.com)', email: '', role: 'operator', tokenId: RUN },
    },
  },
  {
    method: 'get',
    path: '/api/integrations',
    summary: 'Every integration with its state, schedule, breaker, last run and 24-hour success rate',
    role: 'viewer',
    query: ZIntegrationsQuery,
    response: ZIntegrationsResponse,
    example: {
      items: [
        {
          name: 'accounting-export',
          description: 'Nightly export of posted invoices as journal entries',
          registered: true,
          paused: false,
          schedule: '0 2 * * *',
          timezone: 'UTC',
          breakerKey: 'accounting-export',
          breakerState: 'closed',
          breakerOpenUntil: null,
          breakerForcedOpen: false,
          breakerFailures: 0,
          lastRun: { id: RUN, status: 'succeeded', createdAt: AT, finishedAt: AT },
          finished24h: 3,
          succeeded24h: 3,
          successRate24h: 1,
          openIncidents: 0,
          credentialsError: null,
          credentialsFailingSince: null,
          state: 'healthy',
          health: 'healthy',
          failingReasons: [],
        },
        {
          name: 'payment-events',
          description: 'Payment provider events (signed webhooks) applied to invoices',
          registered: true,
          paused: false,
          schedule: null,
          timezone: 'UTC',
          breakerKey: 'payment-events',
          breakerState: 'closed',
          breakerOpenUntil: null,
          breakerForcedOpen: false,
          breakerFailures: 0,
          lastRun: { id: RUN, status: 'succeeded', createdAt: AT, finishedAt: AT },
          finished24h: 12,
          succeeded24h: 12,
          successRate24h: 1,
          openIncidents: 1,
          credentialsError: null,
          credentialsFailingSince: null,
          state: 'failing',
          health: 'failing',
          failingReasons: [
            {
              kind: 'events_failed',
              text: '3 failed webhook events',
              since: AT,
              incidentOpen: true,
              href: '/integrations/payment-events/events?status=failed',
              action: 'Review failed events',
            },
          ],
        },
      ],
    },
  },
  {
    method: 'post',
    path: '/api/integrations/{name}/runs',
    summary: 'Start a run (or a dry-run) now; a repeat while the same kind of run is queued returns that run',
    role: 'operator',
    pathParams: nameParam,
    body: ZRunNowBody,
    refusals: {
      404: 'No integration has this name: check it in GET /api/integrations',
      409: 'The integration is in the database but not registered in this build (orphaned)',
    },
    response: ZRunNowResponse,
    example: { runId: RUN, deduplicated: false },
  },
  {
    method: 'get',
    path: '/api/runs',
    summary: 'Runs, newest first, filtered and keyset-paginated',
    role: 'viewer',
    query: ZRunsQuery,
    refusals: {
      400: 'an empty value is refused too, and an integration that does not exist (the message names the one it probably meant)',
    },
    response: ZRunsResponse,
    example: { items: [runListItem], next: `${AT}|${RUN}` },
  },
  {
    method: 'get',
    path: '/api/runs/status',
    summary: 'Live status of up to 200 runs',
    role: 'viewer',
    query: ZRunStatusesQuery,
    response: ZRunStatusesResponse,
    example: {
      items: [
        {
          id: RUN,
          status: 'running',
          attemptCount: 1,
          progressDone: 40,
          progressTotal: 120,
          nextAttemptAt: null,
          finishedAt: null,
          errorMessage: null,
          hold: null,
        },
      ],
    },
  },
  {
    method: 'get',
    path: '/api/changes',
    summary:
      'A fingerprint of what a console page shows (Overview, Integrations, an integration, Alerts): the console polls it and re-renders the page when it changes',
    role: 'viewer',
    query: ZChangesQuery,
    refusals: {
      400: 'with view=alerts, an integration that does not exist is refused too (the message names the one it probably meant)',
      404: 'No integration has this name (view=integration): check it in GET /api/integrations',
    },
    response: ZChangesResponse,
    example: { view: 'overview', fingerprint: 'q0c1Yw3bY2q2k1mI9vX0aA' },
  },
  {
    method: 'post',
    path: '/api/runs/retry',
    summary: 'Bulk retry of failed or cancelled runs, named or matching a filter (all or nothing), released at a pace',
    description:
      'The body has exactly one of `runIds` or `filter`, and an optional `pace` (default 5 per 1m per integration). ' +
      '`runIds`: those runs (1 to 500), all failed or cancelled and not retried yet, or none is retried. ' +
      "`filter`: the console's Retry all matching, with the Runs list's filter (`status` failed or cancelled is required): " +
      'the oldest 500 runs it matches that were not retried yet (runs retried already are skipped, as are runs a concurrent retry holds); ' +
      'send it again for the rest. An unknown integration, a reversed time range, another status, both forms, neither or a field not listed are refused with 400, retrying nothing. ' +
      'The answer is the bulk operation (null and `queued` 0 when the filter matched nothing to retry), the number of retries queued and the new run ids; ' +
      'follow them with GET /api/bulk-operations, change their pace with PATCH /api/bulk-operations/{id}.',
    role: 'operator',
    body: ZBulkRetryBody,
    bodyExamples: {
      runIds: { summary: 'Retry these runs, 20 a minute', value: { runIds: [RUN, RUN2], pace: { runs: 20, per: '1m' } } },
      filter: {
        summary: "Retry all matching: accounting-export's failed scheduled runs of a day, at the default pace",
        value: {
          filter: {
            integration: 'accounting-export',
            status: 'failed',
            trigger: 'schedule',
            from: '2026-11-30T00:00:00Z',
            to: '2026-11-30T23:59:59Z',
          },
        },
      },
    },
    refusals: {
      404: 'runIds: some of the runs do not exist: the message lists them; nothing was retried',
      409: 'Some runs are not failed or cancelled, were retried already, or belong to an orphaned integration (runIds), or the filter names an orphaned integration; nothing was retried',
    },
    response: ZBulkRetryResponse,
    example: { bulkOperationId: RUN, queued: 2, runIds: [RUN2, RUN3] },
  },
  {
    method: 'get',
    path: '/api/runs/{id}',
    summary: 'One run with its attempts, their logs, and the runs that retried it',
    role: 'viewer',
    pathParams: runIdParam,
    refusals: { 404: 'No run has this id' },
    response: ZRunDetailResponse,
    example: {
      run: { ...runListItem, correlationId: 'b0c4e6a8-3b1f-4e6d-9a2c-5f7e8d9c0b1a', retriedAt: null },
      attempts: [
        {
          id: RUN2,
          runId: RUN,
          number: 1,
          outcome: 'succeeded',
          startedAt: AT,
          finishedAt: AT,
          errorMessage: null,
          logs: [{ id: 1, attemptId: RUN2, at: AT, level: 'info', message: 'attempt 1 of 4 started', data: null }],
        },
      ],
      retries: [],
    },
  },
  {
    method: 'post',
    path: '/api/runs/{id}/retry',
    summary: 'Retry one failed or cancelled run as a new run linked to it',
    role: 'operator',
    pathParams: runIdParam,
    body: ZRetryRunBody,
    refusals: {
      404: 'No run has this id',
      409: 'The run is not failed or cancelled, was retried already (the message names the retry), or its integration is orphaned',
    },
    response: ZRetryRunResponse,
    example: { runId: RUN2 },
  },
  {
    method: 'post',
    path: '/api/runs/{id}/cancel',
    summary: 'Cancel a queued, waiting or running run, with an optional reason kept on the run and in its audit row',
    role: 'operator',
    pathParams: runIdParam,
    body: ZCancelRunBody,
    refusals: { 404: 'No run has this id', 409: 'The run has ended already (succeeded, failed or cancelled)' },
    response: ZCancelRunResponse,
    example: { runId: RUN, cancelled: true },
  },
  {
    method: 'get',
    path: '/api/bulk-operations',
    summary: 'Recent bulk retries with their progress',
    role: 'viewer',
    response: ZBulkOperationsResponse,
    example: {
      items: [{ id: RUN, kind: 'retry', createdBy: 'oscar@example.com', createdAt: AT, total: 1, status: 'done', runIds: [RUN2] }],
    },
  },
  {
    method: 'patch',
    path: '/api/bulk-operations/{id}',
    summary: "Change the pace of a bulk retry's runs not released yet; the dispatcher follows it from its next turn",
    role: 'operator',
    pathParams: bulkIdParam,
    body: ZBulkPaceBody,
    refusals: {
      404: 'No bulk operation has this id',
      409: 'The bulk operation was cancelled, or every run of it has been released already: no pace applies any more',
    },
    response: ZBulkPaceResponse,
    example: { bulkOperationId: RUN, pace: { runs: 20, per: '1m' }, previous: { runs: 5, per: '1m' } },
  },
  {
    method: 'get',
    path: '/api/metrics',
    summary:
      'Prometheus metrics (text format); off unless METRICS_TOKEN is set, then Authorization: Bearer <METRICS_TOKEN>. With the database down or not answering in 5 s it still answers 200: the process counters and junction_database_gauges_up 0 instead of the queue and breaker gauges',
    role: null,
    plain: true,
    refusals: {
      401: 'No Authorization: Bearer <METRICS_TOKEN> header, or the wrong token',
      404: 'Metrics are off: METRICS_TOKEN is not set',
    },
    response: 'text',
    example:
      '# TYPE junction_database_gauges_up gauge\njunction_database_gauges_up 1\n# TYPE junction_runs_queued gauge\njunction_runs_queued{integration="accounting-export"} 0\n',
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This document',
    role: null,
    plain: true,
    response: z.looseObject({ openapi: z.literal('3.1.0') }),
    example: { openapi: '3.1.0' },
  },
];

/**
 * Routes that are not part of the JSON API: Auth.js's own endpoints (sign-in flow), and the
 * optional catch-all that answers a JSON 404 for /api itself and any path under it no route serves.
 */
export const NOT_DESCRIBED = ['/api/auth/{...nextauth}', '/api/{...path}'];

/** What every route() operation of a kind answers 400 for. */
function generic400(mutation: boolean): string {
  return mutation
    ? 'Invalid input (`fieldErrors` names each field), a query parameter (the input is the JSON body), a body that is not JSON, or a malformed Idempotency-Key'
    : 'Invalid input: `fieldErrors` names each field (a query parameter this operation does not list, or one given twice, included)';
}

/** Every refusal an operation can answer, by status: its kind's and its own (`refusals`). */
function errorResponses(op: ApiOperation) {
  const json = (description: string) => ({ description, content: { 'application/json': { schema: ZErrorResponse } } });
  const mutation = op.method !== 'get';
  const statuses: Record<string, string> = {
    ...(op.plain
      ? {}
      : {
          '400': generic400(mutation),
        }),
    ...(op.role
      ? {
          '401': 'No session or API token, or a bad, expired or revoked token',
          '403': mutation
            ? `The caller lacks the ${op.role} role, or the request came from another site (its Origin is not this server)`
            : `The caller lacks the ${op.role} role`,
        }
      : {}),
    ...(mutation
      ? {
          '413': 'The request body is larger than 1 MB',
          '422': 'The Idempotency-Key was already used on this route with another request body: send a new key',
        }
      : {}),
    ...(op.plain
      ? {}
      : { '503': "Junction's database is not answering: try again after `Retry-After` seconds; the message has a reference to quote" }),
    ...Object.fromEntries(Object.entries(op.refusals ?? {})),
    // An operation's own 400 adds to its kind's (a route() handler's), or is its only one (health).
    ...(op.refusals?.[400] && !op.plain ? { '400': `${generic400(mutation)}; ${op.refusals[400]}` } : {}),
    '500': 'Something went wrong; the message has a reference to quote',
  };
  return Object.fromEntries(
    Object.entries(statuses)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([status, description]) => [status, json(description)]),
  );
}

/** The header every mutation takes (lib/platform/triggers/idempotency.ts), declared so clients generated from this document send it. */
const ZIdempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/)
    .optional()
    .meta({
      description:
        'Runs the request at most once per caller, route and key for 24 hours: a repeat with the same body gets the first answer (header `Idempotent-Replayed: true`), one with another body a 422. 1 to 255 visible ASCII characters, e.g. a UUID.',
      example: '3f6c2a1e-8d4b-4c7a-9e21-5b0d7c4f9a10',
    }),
});

function operation(op: ApiOperation): ZodOpenApiOperationObject {
  const replayed =
    op.method !== 'get' && !op.plain
      ? {
          headers: {
            'idempotent-replayed': {
              description: '`true` when this is the stored answer of an earlier request with the same Idempotency-Key',
              schema: { type: 'string' as const, enum: ['true'] },
            },
          },
        }
      : {};
  const ok =
    op.response === 'text'
      ? { description: 'OK', content: { 'text/plain': { schema: z.string(), example: op.example } } }
      : { description: 'OK', ...replayed, content: { 'application/json': { schema: op.response, example: op.example } } };
  return {
    summary: op.summary,
    ...(op.description || op.role
      ? {
          description: [op.description, op.role ? `Needs the ${op.role} role (a session or an API token with that role).` : undefined]
            .filter(Boolean)
            .join('\n\n'),
        }
      : {}),
    security: op.role ? [{ apiToken: [] }, { session: [] }] : [],
    ...(op.query || op.pathParams || (op.method !== 'get' && !op.plain)
      ? {
          requestParams: {
            ...(op.query ? { query: op.query } : {}),
            ...(op.pathParams ? { path: op.pathParams } : {}),
            ...(op.method !== 'get' && !op.plain ? { header: ZIdempotencyHeader } : {}),
          },
        }
      : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: op.body, ...(op.bodyExamples ? { examples: op.bodyExamples } : {}) } },
          },
        }
      : {}),
    responses: { '200': ok, ...errorResponses(op) },
  };
}

let cached: ReturnType<typeof createDocument> | undefined;

export function openApiDocument(): ReturnType<typeof createDocument> {
  if (cached) return cached;
  const paths: ZodOpenApiPathsObject = {};
  for (const op of API_OPERATIONS) paths[op.path] = { ...paths[op.path], [op.method]: operation(op) };
  cached = createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Junction API',
      version: '1',
      description:
        'The JSON API of Junction. Scripts authenticate with `Authorization: Bearer <API token>` (admins create tokens under Users → API tokens); the console uses its session cookie. Mutations accept an `Idempotency-Key` header. Every refusal is JSON `{ error }` (and `fieldErrors` for invalid input). A query parameter an operation does not list is refused with 400 naming it and the ones the operation takes, never ignored (a misspelt filter, or `status[]=` as axios and qs send lists, would otherwise answer unfiltered); so is a parameter given twice, and any query parameter on a POST, whose input is its JSON body. A path under /api that no route serves (/api itself included) answers 404 `{ error }` to every method, OPTIONS included; such paths are not listed below, as they serve no operation. A method a route does not serve answers 405 with an `Allow` header; OPTIONS on a route answers 204 with the same `Allow`.',
    },
    components: {
      securitySchemes: {
        apiToken: { type: 'http', scheme: 'bearer', description: 'An API token (jct_...) with the viewer or operator role' },
        session: { type: 'apiKey', in: 'cookie', name: 'authjs.session-token', description: 'The console session (SSO sign-in)' },
      },
    },
    paths,
  });
  return cached;
}
