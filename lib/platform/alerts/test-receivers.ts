import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { RecordedRequest as HttpRequestRecord } from '../../../test/fixtures/http-server';
import { verifySignature } from '../intake/signature';
import { standardWebhooksSecret } from './messages';

/**
 * Real local receivers for alerting's tests: an HTTP server that records every request and answers
 * with scripted status codes per path (optionally verifying webhook alerts' signatures first), and
 * an SMTP server (smtp-server) that requires a login and records every message. Both listen on
 * 127.0.0.1 with a random port.
 */

/**
 * A request as test/fixtures/http-server records it (path without the query), with its body parsed
 * and, on a verifying receiver, why it was refused (null when it verified).
 */
export type RecordedRequest = HttpRequestRecord & { json: unknown; refused: string | null };

export interface HttpReceiverOptions {
  /**
   * Verify every request as a webhook channel's receiver should: Standard Webhooks (`webhook-id`,
   * `webhook-timestamp`, `webhook-signature` over `id.timestamp.body`, keyed by the channel's
   * secret, a timestamp at most 5 minutes off). A request that fails is answered 401 with the
   * reason, and still recorded.
   */
  signingSecret?: string;
  /** The receiver's clock (ms), so a captured delivery can be replayed "later". Default Date.now. */
  now?: () => number;
}

export interface HttpReceiver {
  url: string;
  requests: RecordedRequest[];
  /** The next requests to `path` get these status codes in turn; after that 200. */
  script(path: string, statuses: number[]): void;
  /** Every request to `path` gets this status. */
  always(path: string, status: number): void;
  /** Requests to `path` are answered after `ms` (a slow receiver). */
  slow(path: string, ms: number): void;
  /** Answers to `path` carry this Retry-After header. */
  retryAfter(path: string, value: string): void;
  /** The most requests to `path` it had in hand at once. */
  maxConcurrent(path: string): number;
  on(path: string): RecordedRequest[];
  close(): Promise<void>;
}

export async function startHttpReceiver(options: HttpReceiverOptions = {}): Promise<HttpReceiver> {
  const requests: RecordedRequest[] = [];
  const scripts = new Map<string, number[]>();
  const fixed = new Map<string, number>();
  const delays = new Map<string, number>();
  const retryAfters = new Map<string, string>();
  const inHand = new Map<string, number>();
  const most = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (req.url ?? '/').split('?')[0];
      let json: unknown = null;
      try {
        json = JSON.parse(body);
      } catch {
        json = null;
      }
      let refused: string | null = null;
      if (options.signingSecret !== undefined) {
        const headers: Record<string, string> = {};
        for (const [key, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[key] = value;
        const verified = verifySignature(
          { scheme: 'standard-webhooks' },
          [standardWebhooksSecret(options.signingSecret)],
          Buffer.concat(chunks),
          headers,
          (options.now ?? Date.now)(),
        );
        if (!verified.ok) refused = verified.reason;
      }
      requests.push({ method: req.method ?? 'POST', path, headers: req.headers, body, json, refused, at: Date.now() });
      if (refused !== null) {
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end(`refused: ${refused}`);
        return;
      }
      const status = fixed.get(path) ?? scripts.get(path)?.shift() ?? 200;
      const now = (inHand.get(path) ?? 0) + 1;
      inHand.set(path, now);
      most.set(path, Math.max(most.get(path) ?? 0, now));
      const answer = () => {
        inHand.set(path, (inHand.get(path) ?? 1) - 1);
        const retryAfter = retryAfters.get(path);
        res.writeHead(status, { 'content-type': 'text/plain', ...(retryAfter !== undefined ? { 'retry-after': retryAfter } : {}) });
        res.end(status < 300 ? 'ok' : `receiver says no (${status})`);
      };
      const delay = delays.get(path);
      if (delay) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script: (path, statuses) => void scripts.set(path, [...statuses]),
    always: (path, status) => void fixed.set(path, status),
    slow: (path, ms) => void delays.set(path, ms),
    retryAfter: (path, value) => void retryAfters.set(path, value),
    maxConcurrent: (path) => most.get(path) ?? 0,
    on: (path) => requests.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ReceivedMail {
  user: string | null;
  from: string | null;
  to: string[];
  raw: string;
}

export interface SmtpReceiver {
  port: number;
  messages: ReceivedMail[];
  close(): Promise<void>;
}

export async function startSmtpReceiver(login: { user: string; password: string }): Promise<SmtpReceiver> {
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.password) return callback(null, { user: auth.username });
      return callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          user: typeof session.user === 'string' ? session.user : null,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return { port, messages, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Undoes quoted-printable soft line breaks and escapes, enough to search a received mail's text. */
export function decodeQuotedPrintable(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
