import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { EventsDeclaration } from '../contract';

/**
 * Signature verification over the RAW body, before anything parses it (a signature checked over
 * re-serialised JSON accepts bodies the sender never signed, and refuses some it did). Every
 * active secret is tried, so a sender can move to a new secret while the old one still works.
 * Reasons are short and never contain the signature, the secret or the body.
 */

export const DEFAULT_TOLERANCE_SECONDS = 300;
export const DEFAULT_HMAC_HEADERS = { signatureHeader: 'x-signature', timestampHeader: 'x-timestamp' } as const;

export type Verification = { ok: true; signedAt: Date } | { ok: false; reason: string };

type Scheme = Pick<EventsDeclaration, 'scheme' | 'hmac' | 'toleranceSeconds'>;

function timestampOf(
  raw: string | undefined,
  toleranceSeconds: number,
  nowMs: number,
): { ok: true; at: Date } | { ok: false; reason: string } {
  if (!raw) return { ok: false, reason: 'missing signature headers' };
  if (!/^\d{1,12}$/.test(raw)) return { ok: false, reason: 'malformed timestamp' };
  const seconds = Number(raw);
  const now = Math.floor(nowMs / 1000);
  if (now - seconds > toleranceSeconds) return { ok: false, reason: 'stale timestamp' };
  if (seconds - now > toleranceSeconds) return { ok: false, reason: 'timestamp in the future' };
  return { ok: true, at: new Date(seconds * 1000) };
}

/** The hex HMAC-SHA256 of `timestamp.body`: what the generic scheme expects (exported for senders and tests). */
export function hmacSignature(secret: string, timestamp: string | number, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export function verifySignature(
  scheme: Scheme,
  secrets: readonly string[],
  rawBody: Buffer,
  headers: Readonly<Record<string, string>>,
  nowMs = Date.now(),
): Verification {
  const tolerance = scheme.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (secrets.length === 0) return { ok: false, reason: 'no signing secret is configured for this endpoint' };
  if (scheme.scheme === 'standard-webhooks') {
    if (!headers['webhook-id'] || !headers['webhook-signature'] || !headers['webhook-timestamp'])
      return { ok: false, reason: 'missing signature headers' };
    const ts = timestampOf(headers['webhook-timestamp'], tolerance, nowMs);
    if (!ts.ok) return ts;
    const payload = rawBody.toString('utf8');
    // The v1 signatures sent (several during the sender's own rotation), compared with the one the
    // package computes for the timestamp checked above. Not the package's verify(): it keeps its own
    // fixed 5-minute window, so a toleranceSeconds above 300 refused a delivery it allows as stale.
    const sent = headers['webhook-signature']
      .split(' ')
      .map((versioned) => versioned.split(','))
      .filter(([version, signature]) => version === 'v1' && signature)
      .map(([, signature]) => Buffer.from(signature));
    for (const secret of secrets) {
      let expected: Buffer;
      try {
        expected = Buffer.from(new Webhook(secret).sign(headers['webhook-id'], ts.at, payload).split(',')[1]);
      } catch {
        // A malformed stored secret: try the others.
        continue;
      }
      if (sent.some((signature) => signature.length === expected.length && timingSafeEqual(signature, expected)))
        return { ok: true, signedAt: ts.at };
    }
    return { ok: false, reason: 'bad signature' };
  }
  const names = { ...DEFAULT_HMAC_HEADERS, ...scheme.hmac };
  const signature = headers[names.signatureHeader.toLowerCase()];
  const rawTs = headers[names.timestampHeader.toLowerCase()];
  if (!signature || !rawTs) return { ok: false, reason: 'missing signature headers' };
  const ts = timestampOf(rawTs, tolerance, nowMs);
  if (!ts.ok) return ts;
  // Several signatures may be sent (one per secret the sender holds during a rotation).
  const given = signature
    .split(/[\s,]+/)
    .map((s) => s.replace(/^sha256=/i, '').toLowerCase())
    .filter((s) => /^[0-9a-f]{64}$/.test(s))
    .map((s) => Buffer.from(s, 'hex'));
  if (given.length === 0) return { ok: false, reason: 'malformed signature' };
  for (const secret of secrets) {
    const expected = Buffer.from(hmacSignature(secret, rawTs, rawBody), 'hex');
    if (given.some((g) => timingSafeEqual(g, expected))) return { ok: true, signedAt: ts.at };
  }
  return { ok: false, reason: 'bad signature' };
}
