import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { isMalformedPath, MALFORMED_PATH_MESSAGE } from '../malformed-path';
import { serveMetrics } from '../observability/metrics-server';
import { BodyTimeoutError, WEBHOOK_BODY_TIMEOUT_MS } from './body-deadline';
import { answerNoEndpointPath, answerOtherMethod, answerWebhook, remoteOf, webhookHeaders, type WebhookHttpAnswer } from './http';
import type { IntakeDeps } from './intake';

/**
 * The dedicated intake listener: plain node:http serving `POST /hooks/<integration>` with exactly
 * the contract of the Next.js route (both answer through `answerWebhook`), without the framework's
 * per-request work, so one process takes the event rates of benchmark 7. Also `GET /health`
 * (the database answers) and, with a metrics token, `GET /metrics` of this process. Run as its own
 * process by worker/intake.ts (`npm run start:intake`, or by `npm run dev`/`npm start` with INTAKE_PORT).
 */

export interface IntakeListener {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A body refused before it was read whole (413, or 404/415 answered without reading it) is
 * discarded for at most this long after the answer, then the connection is cut. Lingering, as HTTP
 * servers do: closing at once while the sender is still writing resets the connection, and the
 * reset can destroy the answer before the sender has read it.
 */
const REFUSED_BODY_LINGER_MS = 5_000;

/**
 * Reads at most `limit` bytes while they stream in; null as soon as the body is longer (nothing
 * more is kept: the caller answers 413 and drops the rest). A body that has not ended
 * `timeout.ms` after `timeout.from` (epoch ms; stalled, or trickling byte by byte: a deadline, not
 * an idle timeout) rejects with BodyTimeoutError while the socket is still open, so the intake
 * answers the JSON 408 and records it.
 */
export function readLimited(req: IncomingMessage, limit: number, timeout?: { ms: number; from: number }): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = timeout
      ? setTimeout(
          () => {
            done();
            req.pause();
            if (req.socket.destroyed) reject(new Error('the sender closed the connection before the body ended'));
            else reject(new BodyTimeoutError(timeout.ms, size));
          },
          Math.max(0, timeout.from + timeout.ms - Date.now()),
        )
      : undefined;
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const onClose = () => {
      done();
      reject(new Error('the sender closed the connection before the body ended'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function send(res: ServerResponse, answer: WebhookHttpAnswer): void {
  res.writeHead(answer.status, answer.headers).end(answer.body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

async function health(deps: IntakeDeps, res: ServerResponse): Promise<void> {
  try {
    await deps.db.execute(sql`select 1`);
    json(res, 200, { status: 'ok' });
  } catch {
    json(res, 503, { status: 'unavailable', error: 'the database does not answer' });
  }
}

async function hook(
  deps: IntakeDeps,
  req: IncomingMessage,
  res: ServerResponse,
  integration: string,
  options: { trustProxy: boolean; bodyTimeoutMs: number },
): Promise<void> {
  const arrived = Date.now();
  if (req.method !== 'POST') return send(res, answerOtherMethod(deps.registry, integration));
  const { trustProxy } = options;
  const headers = webhookHeaders(Object.entries(req.headers));
  const answer = await answerWebhook(deps, {
    integration,
    headers,
    // The body's deadline counts from the headers' arrival, so a stalled or trickling body is
    // answered 408 (recorded) at the bound, not by node's plain-text request timeout much later.
    readBody: (limit) => readLimited(req, limit, { ms: options.bodyTimeoutMs, from: arrived }),
    remote: remoteOf(headers, { peer: req.socket.remoteAddress, trustProxy }),
  });
  if (!req.readableEnded) {
    // Nothing more of this body is kept: the rest is read and dropped (never buffered) so the
    // sender can finish writing and read the answer; a sender that keeps on is cut off.
    res.once('finish', () => {
      if (req.readableEnded) return;
      const cut = setTimeout(() => req.socket.destroy(), REFUSED_BODY_LINGER_MS).unref();
      req.once('end', () => clearTimeout(cut));
      req.resume();
    });
  }
  send(res, answer);
}

export async function startIntakeListener(options: {
  deps: IntakeDeps;
  port: number;
  host?: string;
  /** Serves GET /metrics with this bearer token; without one there is no /metrics. */
  metricsToken?: string;
  /** A reverse proxy in front sets X-Forwarded-For (TRUST_PROXY): record its first hop, not the proxy's address. */
  trustProxy?: boolean;
  /**
   * A webhook body must have arrived this long after its headers, or it is answered 408 and
   * recorded; WEBHOOK_BODY_TIMEOUT_MS (30 s, the console's route's too) unless a test says less.
   */
  bodyTimeoutMs?: number;
}): Promise<IntakeListener> {
  const { deps } = options;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? WEBHOOK_BODY_TIMEOUT_MS;
  const serverOptions = {
    // Headers within the bound too (node answers a plain 408 then: no endpoint is known yet).
    headersTimeout: bodyTimeoutMs,
    // Node's own cut for the whole request only backs up hook()'s 408: it comes after the bound and
    // the linger that follows a refused body, so it never pre-empts the JSON answer.
    requestTimeout: bodyTimeoutMs + REFUSED_BODY_LINGER_MS + 5_000,
    // Node checks those timeouts every 30 s by default, which let a stalled request hold its
    // socket for ~71 s where 30 s was meant.
    connectionsCheckingInterval: Math.min(5_000, bodyTimeoutMs),
  };
  const server: Server = createServer(serverOptions, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // What the console's proxy answers for the same path (proxy.ts): one contract on both servers.
    if (isMalformedPath(path)) return json(res, 400, { error: MALFORMED_PATH_MESSAGE });
    const match = /^\/hooks\/([^/]+)\/?$/.exec(path);
    const integration = match ? decodeURIComponent(match[1]) : undefined;
    const handled =
      integration !== undefined
        ? hook(deps, req, res, integration, { trustProxy: options.trustProxy ?? false, bodyTimeoutMs })
        : path === '/health' && (req.method === 'GET' || req.method === 'HEAD')
          ? health(deps, res)
          : path === '/metrics' && options.metricsToken && req.method === 'GET'
            ? Promise.resolve(serveMetrics(req, res, options.metricsToken))
            : /^\/hooks(\/|$)/.test(path)
              ? Promise.resolve(send(res, answerNoEndpointPath(path)))
              : Promise.resolve(json(res, 404, { error: 'not found: this listener serves POST /hooks/<integration> and GET /health' }));
    handled.catch((error: unknown) => {
      console.error(`[intake] request failed: ${(error as Error)?.message?.slice(0, 200)}`);
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
