import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { z } from 'zod';
import { json, methodNotAllowed, notFound, parseAdminPayload, readJson, type Reply, type SandboxRequest } from './http';

/**
 * Alert catchers: a generic webhook and a Slack-compatible incoming webhook per name
 * (`/catcher/webhook/<name>`, `/catcher/slack/<name>`), and an SMTP server that accepts any mail,
 * with or without a login. Everything received is recorded and readable as JSON. A name can be
 * told to fail its next N requests, to exercise alert delivery retries, and a webhook name to verify
 * what it gets with a channel's secret, as a receiver should (Standard Webhooks).
 */

/** Oldest records are dropped beyond this, so a long demo does not grow without bound. */
export const MAX_RECORDED = 10_000;

export type CatcherKind = 'webhook' | 'slack';

export interface CaughtMessage {
  seq: number;
  kind: CatcherKind;
  name: string;
  headers: Record<string, string>;
  body: string;
  json: unknown;
  /** What the catcher answered: 200, or the status of an injected failure / refused Slack payload / refused signature (401). */
  status: number;
  /** Why a verifying webhook catcher refused it (401), or null. */
  refused: string | null;
  receivedAt: string;
}

export interface CaughtEmail {
  seq: number;
  from: string | null;
  to: string[];
  subject: string | null;
  /** The text/plain part, decoded (or the whole body for a single-part mail). */
  text: string;
  /** The login the client used, if it authenticated (any login is accepted). */
  user: string | null;
  raw: string;
  receivedAt: string;
}

export const ZCatcherFailure = z.strictObject({
  count: z.number().int().min(0, 'must be 0 or more (0 stops failing)').max(10_000, 'must be at most 10000'),
  status: z
    .number()
    .int()
    .min(400, 'must be an HTTP error status from 400 to 599')
    .max(599, 'must be an HTTP error status from 400 to 599')
    .default(500),
  /** The failure's body repeats the request's path and query (a receiver echoing the webhook URL it was called on). */
  echo: z.boolean().default(false),
});

export const ZCatcherVerify = z.strictObject({
  /** The webhook channel's secret (its UTF-8 bytes are the key); null stops verifying. */
  secret: z.string().min(1, 'must not be empty (null stops verifying)').max(512, 'must be at most 512 characters').nullable(),
});

/**
 * What a receiver of Junction's webhook alerts checks (Standard Webhooks, through the
 * `standardwebhooks` package): the signature over `webhook-id.webhook-timestamp.body` under the
 * channel's secret, and a timestamp at most 5 minutes off. Null when it verifies, else why not.
 */
export function standardWebhookRefusal(secret: string, body: string, headers: Record<string, string>): string | null {
  try {
    new Webhook(`whsec_${Buffer.from(secret, 'utf8').toString('base64')}`).verify(body, headers, { jsonParse: false });
    return null;
  } catch (error) {
    return error instanceof WebhookVerificationError ? error.message : `signature check failed: ${(error as Error).message}`;
  }
}

function push<T>(list: T[], item: T) {
  list.push(item);
  if (list.length > MAX_RECORDED) list.splice(0, list.length - MAX_RECORDED);
}

export class CatcherStore {
  readonly messages: CaughtMessage[] = [];
  readonly emails: CaughtEmail[] = [];
  readonly #failures = new Map<string, { remaining: number; status: number; echo: boolean }>();
  readonly #secrets = new Map<string, string>();
  #seq = 0;

  /** `/catcher/webhook/<name>` verifies every request with `secret` (null: it stops verifying). */
  verifyWith(name: string, secret: string | null): void {
    if (secret === null) this.#secrets.delete(name);
    else this.#secrets.set(name, secret);
  }

  /**
   * The next `count` requests to `/catcher/*\/<name>` get `status` (they are still recorded); with
   * `echo`, the answer repeats the path and query it was sent to.
   */
  failNext(name: string, count: number, status = 500, echo = false): void {
    if (count === 0) this.#failures.delete(name);
    else this.#failures.set(name, { remaining: count, status, echo });
  }

  pendingFailures(): Record<string, { remaining: number; status: number }> {
    return Object.fromEntries([...this.#failures].map(([name, f]) => [name, { remaining: f.remaining, status: f.status }]));
  }

  receive(kind: CatcherKind, name: string, req: SandboxRequest): Reply {
    const body = req.body.toString('utf8');
    let parsed: unknown = null;
    try {
      parsed = body ? JSON.parse(body) : null;
    } catch {
      parsed = null;
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.headers))
      if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;

    let reply: Reply;
    const failure = this.#failures.get(name);
    // An injected failure comes first (the receiver is down); a verifying catcher then checks the signature.
    const secret = kind === 'webhook' && !failure ? this.#secrets.get(name) : undefined;
    const refused = secret === undefined ? null : standardWebhookRefusal(secret, body, headers);
    if (failure) {
      failure.remaining--;
      if (failure.remaining <= 0) this.#failures.delete(name);
      reply = {
        status: failure.status,
        body:
          `catcher '${name}' was told to fail (${failure.status}); ${Math.max(0, failure.remaining)} more to go` +
          (failure.echo ? ` (request: ${req.method} ${req.path}${req.query.size ? `?${req.query.toString()}` : ''})` : ''),
      };
    } else if (refused !== null) {
      reply = { status: 401, body: `catcher '${name}' refused the delivery: ${refused}` };
    } else if (kind === 'slack' && !(parsed && typeof parsed === 'object' && ('text' in parsed || 'blocks' in parsed))) {
      // What Slack answers for a payload without text or blocks.
      reply = { status: 400, body: parsed === null ? 'invalid_payload' : 'no_text' };
    } else {
      reply = { status: 200, body: 'ok' };
    }
    push(this.messages, {
      seq: ++this.#seq,
      kind,
      name,
      headers,
      body,
      json: parsed,
      status: reply.status,
      refused,
      receivedAt: new Date(req.receivedAt).toISOString(),
    });
    return reply;
  }

  recordEmail(email: Omit<CaughtEmail, 'seq' | 'receivedAt'>): void {
    push(this.emails, { ...email, seq: ++this.#seq, receivedAt: new Date().toISOString() });
  }

  reset(): void {
    this.messages.length = 0;
    this.emails.length = 0;
    this.#failures.clear();
    this.#secrets.clear();
  }
}

/** `/catcher/...`: the receivers and the JSON lists of what they got. */
export function handleCatcher(req: SandboxRequest, store: CatcherStore): Reply {
  const [, kind, name, ...rest] = req.segments;
  if ((kind === 'webhook' || kind === 'slack') && name && rest.length === 0) {
    if (req.method !== 'POST') methodNotAllowed(req, ['POST']);
    return store.receive(kind, name, req);
  }
  if (kind === 'messages' && name === undefined) {
    if (req.method !== 'GET') methodNotAllowed(req, ['GET']);
    const only = req.query.get('name');
    const data = only === null ? store.messages : store.messages.filter((m) => m.name === only);
    return json(200, { data, count: data.length });
  }
  if (kind === 'emails' && name === undefined) {
    if (req.method !== 'GET') methodNotAllowed(req, ['GET']);
    return json(200, { data: store.emails, count: store.emails.length });
  }
  return notFound(req);
}

/** `POST /_admin/catcher/<name>/fail { count, status, echo }`, `POST /_admin/catcher/<name>/verify { secret }`. */
export function handleCatcherAdmin(req: SandboxRequest, store: CatcherStore): Reply {
  const [, , name, action, ...rest] = req.segments;
  if (!name || (action !== 'fail' && action !== 'verify') || rest.length > 0) notFound(req);
  if (req.method !== 'POST') methodNotAllowed(req, ['POST']);
  if (action === 'verify') {
    const { secret } = parseAdminPayload(ZCatcherVerify, readJson(req), `verification for catcher '${name}'`);
    store.verifyWith(name, secret);
    return json(200, { name, verifying: secret !== null });
  }
  const { count, status, echo } = parseAdminPayload(ZCatcherFailure, readJson(req), `failure for catcher '${name}'`);
  store.failNext(name, count, status, echo);
  return json(200, { name, failNext: count, status, echo });
}

function decodeWords(value: string): string {
  // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, charset: string, encoding: string, text: string) => {
      const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQuotedPrintableBytes(text.replace(/_/g, ' '));
      try {
        return new TextDecoder(charset).decode(bytes);
      } catch {
        return bytes.toString('utf8');
      }
    });
}

function decodeQuotedPrintableBytes(text: string): Buffer {
  const cleaned = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < cleaned.length; i++) {
    if (cleaned[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(cleaned.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(cleaned.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(cleaned[i], 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

interface MimePart {
  headers: Map<string, string>;
  body: string;
}

function splitPart(raw: string): MimePart {
  const sep = raw.search(/\r?\n\r?\n/);
  const head = sep < 0 ? raw : raw.slice(0, sep);
  const body = sep < 0 ? '' : raw.slice(sep).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeBody(part: MimePart): string {
  const encoding = (part.headers.get('content-transfer-encoding') ?? '').toLowerCase();
  if (encoding === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') return decodeQuotedPrintableBytes(part.body).toString('utf8');
  return part.body;
}

/** The subject and the text/plain content of a raw message (enough MIME for what alert mails use). */
export function readMail(raw: string): { subject: string | null; text: string } {
  const top = splitPart(raw);
  const subject = top.headers.has('subject') ? decodeWords(top.headers.get('subject')!) : null;
  const findText = (part: MimePart, depth: number): string | null => {
    const type = part.headers.get('content-type') ?? 'text/plain';
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (/^multipart\//i.test(type) && boundary && depth < 5) {
      for (const chunk of part.body.split(`--${boundary}`).slice(1)) {
        if (chunk.startsWith('--')) break;
        const found = findText(splitPart(chunk.replace(/^\r?\n/, '')), depth + 1);
        if (found !== null) return found;
      }
      return null;
    }
    return /^text\/plain/i.test(type) ? decodeBody(part) : null;
  };
  // Line endings as the sender wrote them: CRLF is SMTP's wire format, not part of the text.
  const text = (findText(top, 0) ?? decodeBody(top)).replace(/\r\n/g, '\n').replace(/\n$/, '');
  return { subject, text };
}

export interface SmtpCatcher {
  port: number;
  close(): Promise<void>;
}

/** An SMTP server that accepts every mail (no login needed, any login accepted) into `store`. */
export async function startSmtpCatcher(store: CatcherStore, options: { port: number; host: string }): Promise<SmtpCatcher> {
  const server = new SMTPServer({
    logger: false,
    banner: 'Junction sandbox mail catcher',
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    size: 10 * 1024 * 1024,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const { subject, text } = readMail(raw);
        store.recordEmail({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
          to: session.envelope.rcptTo.map((r) => r.address),
          subject,
          text,
          user: typeof session.user === 'string' ? session.user : null,
          raw,
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => console.error(`[sandbox] SMTP catcher: ${error.message}`));
  const { port } = server.server.address() as AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
