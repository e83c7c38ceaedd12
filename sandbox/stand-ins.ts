import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AccountingLedger, handleAccounting } from './accounting-api';
import { CatcherStore, handleCatcher, handleCatcherAdmin, startSmtpCatcher } from './catchers';
import { ContactStore, DEFAULT_CONTACT_COUNT, handleCrm, handleCrmAdmin } from './crm-api';
import { renderDashboard } from './dashboard';
import {
  FAULT_SYSTEMS,
  FaultInjector,
  isFaultSystem,
  parseFaultsEnvironment,
  parseSeedEnvironment,
  type FaultConfigBySystem,
  type FaultDecision,
  type FaultSystem,
} from './faults';
import { fail, json, problem, ReplyError, type Reply, type SandboxRequest } from './http';
import { DEFAULT_CLIENT, DEFAULT_TOKEN_TTL_SECONDS, TokenStore, type OAuthClient } from './oauth-server';
import { handlePaymentsAdmin, PaymentsControl } from './payment-provider';
import { RequestCounts, type CountedSystem } from './request-counts';
import { router, type Route } from './router';

/**
 * The external systems Junction talks to, played locally on one HTTP server (plus an SMTP
 * catcher), for the demo and for tests:
 *
 *   POST /oauth/token                       OAuth2 client credentials
 *   /accounting/v1/journal-entries          accounting API (bearer token, Idempotency-Key)
 *   GET /crm/v1/contacts                    CRM API (updated_since + cursor pagination)
 *   POST /catcher/webhook|slack/<name>      alert catchers; GET /catcher/messages, /catcher/emails
 *   GET /                                   an HTML page of what each system received
 *   /_admin/payments/...                    the payment provider: where to send signed webhooks, faults, emit events
 *   /_admin/...                             faults, request counts (and /_admin/requests/recent?correlationId=:
 *                                           the latest requests with their X-Correlation-Id and traceparent), reset, catcher failures, CRM changes,
 *                                           accounting bookings (summary) and entries (each booking's externalId)
 *
 * A request to oauth, accounting or crm first passes the fault injector: down / outage (503),
 * rate limit (429 + Retry-After), injected 5xx (not processed), or timeout (processed, then never
 * answered: the client gives up, or after 30 s it gets 504). A timed-out POST to the accounting
 * API has therefore been booked: only its response is lost, which is what idempotency keys are for.
 */

export { DEFAULT_CLIENT, DEFAULT_TOKEN_TTL_SECONDS } from './oauth-server';
export type { FaultConfigBySystem, FaultConfigInput, FaultSystem } from './faults';
export type { JournalEntry } from './accounting-api';

export const DEFAULT_SMTP_PORT = 2525;
export const DEFAULT_SEED = 1;
/** How long an injected timeout holds a request whose client does not give up. */
export const TIMEOUT_HANG_MS = 30_000;
const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface StandInsOptions {
  /** 0 = a random free port. */
  port: number;
  /** 0 = a random free port; default 2525. */
  smtpPort?: number;
  /** Seeds the CRM contacts and the fault decisions; default `SANDBOX_SEED` or 1. */
  seed?: number;
  /** Faults in force from the start; default `SANDBOX_FAULTS` (JSON object by system) or none. */
  faults?: FaultConfigBySystem;
  /** OAuth2 clients; default the demo client accounting-export / dev-accounting-secret. */
  clients?: OAuthClient[];
  /** Default 300. */
  tokenTtlSeconds?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Seeded contacts; default 250. */
  contactCount?: number;
  /** When set, the CRM API requires `X-Api-Key: <crmApiKey>`; by default it needs no key. */
  crmApiKey?: string;
}

/** In-process access for tests: the same stores the HTTP endpoints read and write. */
export interface StandInsState {
  readonly seed: number;
  readonly tokens: TokenStore;
  readonly ledger: AccountingLedger;
  readonly contacts: ContactStore;
  readonly catchers: CatcherStore;
  readonly faults: FaultInjector;
  readonly requests: RequestCounts;
  /** Same as POST /_admin/reset: clears bookings, tokens, counters, catcher messages and faults; keeps the contacts. */
  reset(): void;
}

export interface StandIns {
  /** Base URL, e.g. http://127.0.0.1:4000 (paths are appended: `${url}/oauth/token`). */
  url: string;
  smtpPort: number;
  state: StandInsState;
  close(): Promise<void>;
}

/** Options that come from the environment: `SANDBOX_SEED` and `SANDBOX_FAULTS`. Throws naming the variable. */
export function standInsOptionsFromEnvironment(
  source: Record<string, string | undefined> = process.env,
): Pick<StandInsOptions, 'seed' | 'faults'> {
  return { seed: parseSeedEnvironment(source.SANDBOX_SEED), faults: parseFaultsEnvironment(source.SANDBOX_FAULTS) };
}

function systemOf(segments: string[]): CountedSystem | null {
  const [first] = segments;
  if (first === 'oauth' || first === 'accounting' || first === 'crm' || first === 'catcher') return first;
  return null;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ReplyError(problem(413, 'payload_too_large', `The body is larger than ${MAX_BODY_BYTES} bytes`)));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The `echoCredentials` fault: the request refused with an error body repeating what it carried,
 * as careless APIs do. The token endpoint answers in OAuth2 form (`invalid_client`, the decoded
 * client_secret and the raw form body in error_description); the APIs answer a problem naming the
 * URL with its query string and the Authorization and X-Api-Key headers.
 */
function echoReply(system: FaultSystem, status: number, req: SandboxRequest): Reply {
  const header = (name: string) => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : (value ?? 'none');
  };
  const target = `${req.method} ${req.path}${req.query.size ? `?${req.query.toString()}` : ''}`;
  const body = req.body.toString('utf8').slice(0, 1000);
  if (system === 'oauth') {
    const form = new URLSearchParams(body);
    return {
      status,
      headers: { 'cache-control': 'no-store' },
      body: {
        error: 'invalid_client',
        error_description:
          `Client authentication failed for client_id '${form.get('client_id') ?? 'none'}' with client_secret '${form.get('client_secret') ?? 'none'}' ` +
          `(Authorization: ${header('authorization')}; request body: ${body})`,
      },
    };
  }
  return problem(
    status,
    'request_refused',
    `Refused ${target} (Authorization: ${header('authorization')}; X-Api-Key: ${header('x-api-key')}; body: ${body.slice(0, 200)})`,
  );
}

function faultReply(
  system: FaultSystem,
  decision: Exclude<FaultDecision, { kind: 'pass' | 'timeout' }>,
  k: number,
  req: SandboxRequest,
): Reply {
  switch (decision.kind) {
    case 'echo':
      return echoReply(system, decision.status, req);
    case 'down':
      return problem(
        503,
        'service_unavailable',
        `The ${system} stand-in is down (injected fault 'down'); DELETE /_admin/faults/${system} brings it back`,
      );
    case 'outage':
      return problem(
        503,
        'service_unavailable',
        `The ${system} stand-in is in an injected outage for ${decision.retryAfterSeconds} s more`,
        undefined,
        {
          'retry-after': String(decision.retryAfterSeconds),
        },
      );
    case 'rate-limited':
      return problem(
        429,
        'rate_limited',
        `Too many requests to the ${system} stand-in (injected rate limit); retry after ${decision.retryAfterSeconds} s`,
        undefined,
        {
          'retry-after': String(decision.retryAfterSeconds),
        },
      );
    case 'error':
      return problem(
        decision.status,
        'injected_fault',
        `Injected ${decision.status} for request #${k} to the ${system} stand-in (errorRate)`,
      );
  }
}

/** The CRM's clock: the true one, or behind it while the clockBehindSeconds fault is set. */
function crmNow(faults: FaultInjector): number {
  return Date.now() - (faults.config('crm')?.clockBehindSeconds ?? 0) * 1000;
}

function send(res: ServerResponse, reply: Reply) {
  if (res.headersSent || res.destroyed) return;
  const isText = typeof reply.body === 'string';
  const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8'),
    'content-length': Buffer.byteLength(payload),
    ...reply.headers,
  });
  res.end(payload);
}

interface RouteContext {
  state: StandInsState;
  clients: OAuthClient[];
  tokenTtlSeconds: number;
  crmApiKey: string | undefined;
  /** The payment provider's control (where signed webhooks go, its faults). */
  payments: PaymentsControl;
  /** Known once the servers listen. */
  page: () => { url: string; smtpPort: number };
}

/** Every endpoint of the stand-ins: method and path → handler (the systems' own files route below their prefix). */
function standInRoutes({ state, clients, tokenTtlSeconds, crmApiKey, payments, page }: RouteContext): Route[] {
  const { seed, tokens, ledger, contacts, catchers, faults, requests } = state;
  const systemFaults = (system: FaultSystem) => json(200, { system, ...faults.snapshot().systems[system] });
  return [
    {
      path: '/',
      handle: {
        GET: () => ({
          status: 200,
          contentType: 'text/html; charset=utf-8',
          body: renderDashboard({
            ...page(),
            seed,
            clientIds: clients.map((c) => c.clientId),
            tokenTtlSeconds,
            tokensIssued: tokens.issued,
            contactCount: contacts.size,
            crmApiKeyRequired: crmApiKey !== undefined,
            faults: faults.snapshot(),
            requests: requests.snapshot(),
            bookings: { ...ledger.summary(), recent: ledger.list({ limit: 25 }) },
            messages: catchers.messages,
            emails: catchers.emails,
            pendingFailures: catchers.pendingFailures(),
          }),
        }),
      },
    },
    { path: '/health/*', handle: () => json(200, { ok: true }) },
    { path: '/oauth/token', handle: { POST: (req) => tokens.handleTokenRequest(req) } },
    { path: '/accounting/*', handle: (req) => handleAccounting(req, { ledger, tokens }) },
    {
      path: '/crm/*',
      handle: (req) => {
        const reply = handleCrm(req, {
          contacts,
          apiKey: crmApiKey,
          unparseableUpdatedAt: () => faults.config('crm')?.unparseableUpdatedAt,
        });
        // Its Date header on its own clock (the clockBehindSeconds fault), as a real server's is.
        return faults.config('crm')?.clockBehindSeconds
          ? { ...reply, headers: { ...reply.headers, date: new Date(crmNow(faults)).toUTCString() } }
          : reply;
      },
    },
    { path: '/catcher/*', handle: (req) => handleCatcher(req, catchers) },
    {
      path: '/_admin/faults',
      handle: {
        GET: () => json(200, faults.snapshot()),
        DELETE: () => {
          faults.clear();
          return json(200, faults.snapshot());
        },
      },
    },
    {
      path: '/_admin/faults/:system',
      check: (_req, { system }) => {
        if (!isFaultSystem(system))
          fail(404, 'unknown_system', `No system '${system}' to inject faults into; use one of ${FAULT_SYSTEMS.join(', ')}`);
      },
      handle: {
        GET: (_req, { system }) => systemFaults(system as FaultSystem),
        PUT: (req, { system }) => {
          let input: unknown;
          try {
            input = JSON.parse(req.body.toString('utf8'));
          } catch {
            fail(400, 'invalid_request', `PUT /_admin/faults/${system} needs a JSON body such as {"errorRate":0.2}`);
          }
          faults.set(system as FaultSystem, input);
          return systemFaults(system as FaultSystem);
        },
        DELETE: (_req, { system }) => {
          faults.clear(system as FaultSystem);
          return systemFaults(system as FaultSystem);
        },
      },
    },
    {
      path: '/_admin/requests',
      handle: { GET: () => json(200, { ...requests.snapshot(), tokenRequests: tokens.tokenRequests, tokensIssued: tokens.issued }) },
    },
    {
      path: '/_admin/requests/recent',
      handle: { GET: (req) => json(200, { items: requests.recent({ correlationId: req.query.get('correlationId') ?? undefined }) }) },
    },
    {
      path: '/_admin/reset',
      handle: {
        POST: () => {
          state.reset();
          return json(200, { reset: true, contacts: contacts.size });
        },
      },
    },
    { path: '/_admin/catcher/*', handle: (req) => handleCatcherAdmin(req, catchers) },
    { path: '/_admin/crm/*', handle: (req) => handleCrmAdmin(req, { contacts }) },
    { path: '/_admin/accounting/bookings', handle: { GET: () => json(200, ledger.summary()) } },
    {
      path: '/_admin/accounting/entries',
      // Every booking with its identity, oldest first, what undid it (a reversal, or the booking of a
      // newer version that replaced it) and what it replaced: tests count bookings per (record,
      // version) and the bookings left open per record.
      handle: {
        GET: () =>
          json(200, {
            data: ledger.bookings.map((b) => ({
              id: b.id,
              reference: b.reference,
              externalId: b.externalId,
              bookedAt: b.bookedAt,
              reversedBy: b.reversedBy,
              replaced: b.replaced,
            })),
          }),
      },
    },
    { path: '/_admin/payments/*', handle: (req) => handlePaymentsAdmin(req, payments) },
    { path: '/_admin/oauth/expire-tokens', handle: { POST: () => json(200, { expired: tokens.expireAll() }) } },
  ];
}

function answer(route: (req: SandboxRequest) => Reply, req: SandboxRequest): Reply {
  try {
    return route(req);
  } catch (error) {
    if (error instanceof ReplyError) return error.reply;
    console.error(`[sandbox] ${req.method} ${req.path} failed:`, error);
    return problem(500, 'internal_error', `The sandbox failed on ${req.method} ${req.path}: ${(error as Error).message}`);
  }
}

/**
 * One request: read it, count it, pass the fault injector (latency, refusal or timeout), answer
 * from the route table.
 */
async function handle(
  raw: IncomingMessage,
  res: ServerResponse,
  {
    route,
    faults,
    requests,
    hanging,
  }: { route: (req: SandboxRequest) => Reply; faults: FaultInjector; requests: RequestCounts; hanging: Set<NodeJS.Timeout> },
) {
  const receivedAt = Date.now();
  const url = new URL(raw.url ?? '/', 'http://sandbox');
  let segments: string[];
  try {
    segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    send(res, problem(400, 'invalid_request', `The path ${url.pathname} is not valid percent-encoding`));
    return;
  }
  const system = systemOf(segments);
  if (system) {
    const header = (name: string) => {
      const value = raw.headers[name];
      return (Array.isArray(value) ? value[0] : value) ?? null;
    };
    requests.arrived(system, {
      method: raw.method ?? 'GET',
      path: url.pathname,
      correlationId: header('x-correlation-id'),
      traceparent: header('traceparent'),
    });
    res.on('finish', () => requests.answered(system, res.statusCode));
    res.on('close', () => {
      if (!res.writableFinished) requests.aborted(system);
    });
  }
  let body: Buffer;
  try {
    body = await readBody(raw);
  } catch (error) {
    send(res, error instanceof ReplyError ? error.reply : problem(400, 'invalid_request', 'The request body could not be read'));
    return;
  }
  const req: SandboxRequest = {
    method: raw.method ?? 'GET',
    path: url.pathname,
    segments,
    query: url.searchParams,
    headers: raw.headers,
    body,
    receivedAt,
  };

  const faultSystem = system && isFaultSystem(system) ? system : null;
  const decision: FaultDecision = faultSystem ? faults.decide(faultSystem) : { kind: 'pass', latencyMs: 0 };
  const k = faultSystem ? faults.snapshot().systems[faultSystem].requestsSinceConfig : 0;
  if (decision.latencyMs > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, decision.latencyMs);
      function done() {
        clearTimeout(timer);
        res.off('close', done);
        resolve();
      }
      res.on('close', done);
    });
    if (res.destroyed) return;
  }
  if (decision.kind !== 'pass' && decision.kind !== 'timeout') {
    send(res, faultReply(faultSystem!, decision, k, req));
    return;
  }
  const reply = answer(route, req);
  if (decision.kind === 'timeout') {
    // Processed, never answered: the client gives up first (or gets a 504 after TIMEOUT_HANG_MS).
    const timer = setTimeout(() => {
      hanging.delete(timer);
      send(
        res,
        problem(504, 'gateway_timeout', `Injected timeout: the ${faultSystem} stand-in did not answer within ${TIMEOUT_HANG_MS / 1000} s`),
      );
    }, TIMEOUT_HANG_MS);
    hanging.add(timer);
    res.on('close', () => {
      clearTimeout(timer);
      hanging.delete(timer);
    });
    return;
  }
  send(res, reply);
}

export async function startStandIns(options: StandInsOptions): Promise<StandIns> {
  const seed = options.seed ?? parseSeedEnvironment(process.env.SANDBOX_SEED) ?? DEFAULT_SEED;
  const host = options.host ?? '127.0.0.1';
  const tokenTtlSeconds = options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (!(tokenTtlSeconds > 0)) throw new Error(`tokenTtlSeconds must be more than 0 (got ${tokenTtlSeconds})`);
  const clients = options.clients ?? [DEFAULT_CLIENT];

  const tokens = new TokenStore({ clients, ttlSeconds: tokenTtlSeconds });
  const ledger = new AccountingLedger();
  const faults = new FaultInjector(seed);
  const contacts = new ContactStore(
    seed,
    options.contactCount ?? DEFAULT_CONTACT_COUNT,
    () => crmNow(faults),
    () => (faults.config('crm')?.clockAheadSeconds ?? 0) * 1000,
  );
  const catchers = new CatcherStore();
  const requests = new RequestCounts();
  // Initial faults go through the same validation as the admin endpoint, with a clear start-up error.
  const initialFaults = options.faults ?? parseFaultsEnvironment(process.env.SANDBOX_FAULTS) ?? {};
  for (const system of FAULT_SYSTEMS) {
    if (!initialFaults[system]) continue;
    try {
      faults.set(system, initialFaults[system]);
    } catch (error) {
      throw new Error(error instanceof ReplyError ? error.message : String(error));
    }
  }

  const reset = () => {
    ledger.reset();
    tokens.reset();
    catchers.reset();
    faults.reset();
    requests.reset();
  };
  const payments = new PaymentsControl();
  const state: StandInsState = { seed, tokens, ledger, contacts, catchers, faults, requests, reset };

  const hanging = new Set<NodeJS.Timeout>();
  let base = '';
  let smtpPort = 0;

  const route = router(
    standInRoutes({ state, clients, tokenTtlSeconds, crmApiKey: options.crmApiKey, payments, page: () => ({ url: base, smtpPort }) }),
  );

  const server = createServer((raw, res) => {
    handle(raw, res, { route, faults, requests, hanging }).catch((error: unknown) => {
      console.error('[sandbox] request failed:', error);
      send(res, problem(500, 'internal_error', 'The sandbox failed to answer'));
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  base = `http://${urlHost}:${port}`;

  let smtp: Awaited<ReturnType<typeof startSmtpCatcher>>;
  try {
    smtp = await startSmtpCatcher(catchers, { port: options.smtpPort ?? DEFAULT_SMTP_PORT, host });
  } catch (error) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw new Error(`The SMTP catcher could not listen on ${host}:${options.smtpPort ?? DEFAULT_SMTP_PORT}: ${(error as Error).message}`);
  }
  smtpPort = smtp.port;

  return {
    url: base,
    smtpPort,
    state,
    async close() {
      for (const timer of hanging) clearTimeout(timer);
      hanging.clear();
      server.closeAllConnections();
      await Promise.all([new Promise<void>((resolve) => server.close(() => resolve())), smtp.close()]);
    },
  };
}
