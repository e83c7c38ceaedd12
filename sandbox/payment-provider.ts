import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { fail, json, methodNotAllowed, notFound, type Reply, type SandboxRequest } from './http';
import { mulberry32 } from './random';

/**
 * A payment provider that pushes signed webhooks (Standard Webhooks) to Junction, as Stripe-like
 * providers do: `payment.succeeded`, `payment.refunded` and `payout.paid`, each with a per-object
 * `sequence` (the ordering version). Like a real provider it keeps every event in an outbox until
 * the receiver answers 2xx, retrying on its own schedule (`retryDelaysMs`, the last delay repeating)
 * on any other answer or a connection failure, and re-signing at each attempt.
 *
 * Fault injection (rates 0..1, seeded): `badSignature` (the attempt is signed with a wrong secret),
 * `staleTimestamp` (signed 10 minutes in the past), `duplicate` (an accepted event is sent once
 * more, later), `outOfOrder` (an event is held back so the next event of the same object
 * overtakes it). Injected failures are attempts like any other: the provider retries them.
 */

export interface PaymentEvent {
  id: string;
  type: 'payment.succeeded' | 'payment.refunded' | 'payout.paid';
  created: number;
  data: Record<string, unknown> & { sequence: number };
}

export interface PaymentFaults {
  badSignature?: number;
  staleTimestamp?: number;
  duplicate?: number;
  outOfOrder?: number;
}

export interface PaymentProviderOptions {
  /** Junction's endpoint, e.g. http://localhost:3000/hooks/payment-events. */
  targetUrl: string;
  /** The signing secret, `whsec_...` (set the same one on the endpoint in Junction's console). */
  secret: string;
  retryDelaysMs?: number[];
  faults?: PaymentFaults;
  seed?: number;
  /** Deliveries in flight at once. Default 8. */
  concurrency?: number;
  /** How long an out-of-order event is held back. Default 300 ms. */
  holdBackMs?: number;
  /** Per-attempt timeout. Default 10 s. */
  timeoutMs?: number;
}

interface Delivery {
  event: PaymentEvent;
  body: string;
  attempts: number;
  dueAt: number;
  /** A duplicate sent after the original was accepted. */
  duplicate: boolean;
}

export interface DeliveryStats {
  events: number;
  accepted: number;
  pending: number;
  attempts: number;
  byStatus: Record<string, number>;
  injected: { badSignature: number; staleTimestamp: number; duplicate: number; outOfOrder: number };
  duplicatesAnswered: number;
}

export const DEFAULT_RETRY_DELAYS_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000];

export class PaymentProvider {
  readonly accepted = new Set<string>();
  /** Event ids in the order they were first answered 2xx. */
  readonly acceptedOrder: string[] = [];
  readonly emitted: PaymentEvent[] = [];
  private readonly queue: Delivery[] = [];
  private readonly sequences = new Map<string, number>();
  private readonly random: () => number;
  private readonly stats: DeliveryStats = {
    events: 0,
    accepted: 0,
    pending: 0,
    attempts: 0,
    byStatus: {},
    injected: { badSignature: 0, staleTimestamp: 0, duplicate: 0, outOfOrder: 0 },
    duplicatesAnswered: 0,
  };
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly wrong = new Webhook(`whsec_${Buffer.alloc(24, 9).toString('base64')}`);
  private webhook: Webhook;

  constructor(private readonly options: PaymentProviderOptions) {
    this.random = mulberry32(options.seed ?? 1);
    this.webhook = new Webhook(options.secret);
  }

  /** Rotation on the provider's side: sign with another secret from now on. */
  setSecret(secret: string): void {
    this.webhook = new Webhook(secret);
  }

  setFaults(faults: PaymentFaults): void {
    this.options.faults = faults;
  }

  private next(key: string): number {
    const n = (this.sequences.get(key) ?? 0) + 1;
    this.sequences.set(key, n);
    return n;
  }

  private emit(type: PaymentEvent['type'], key: string, data: Record<string, unknown>): PaymentEvent {
    const event: PaymentEvent = {
      id: `evt_${randomUUID().replaceAll('-', '')}`,
      type,
      created: Math.floor(Date.now() / 1000),
      data: { ...data, sequence: this.next(key) },
    };
    this.emitted.push(event);
    this.stats.events++;
    const holdBack = this.roll('outOfOrder');
    this.queue.push({
      event,
      body: JSON.stringify(event),
      attempts: 0,
      dueAt: Date.now() + (holdBack ? (this.options.holdBackMs ?? 300) : 0),
      duplicate: false,
    });
    this.kick();
    return event;
  }

  paymentSucceeded(p: { paymentId?: string; invoiceNumber: string; amount: string; currency: string }): PaymentEvent {
    const paymentId = p.paymentId ?? `pay_${randomUUID().slice(0, 18).replaceAll('-', '')}`;
    return this.emit('payment.succeeded', paymentId, {
      payment_id: paymentId,
      invoice_number: p.invoiceNumber,
      amount: p.amount,
      currency: p.currency,
    });
  }

  paymentRefunded(p: { paymentId: string; invoiceNumber: string; amount: string; currency: string }): PaymentEvent {
    return this.emit('payment.refunded', p.paymentId, {
      payment_id: p.paymentId,
      invoice_number: p.invoiceNumber,
      amount: p.amount,
      currency: p.currency,
    });
  }

  payoutPaid(p: { payoutId?: string; paymentIds: string[]; amount: string; currency: string }): PaymentEvent {
    const payoutId = p.payoutId ?? `po_${randomUUID().slice(0, 18).replaceAll('-', '')}`;
    return this.emit('payout.paid', payoutId, { payout_id: payoutId, payment_ids: p.paymentIds, amount: p.amount, currency: p.currency });
  }

  private roll(fault: keyof PaymentFaults): boolean {
    const rate = this.options.faults?.[fault] ?? 0;
    if (rate <= 0 || this.random() >= rate) return false;
    this.stats.injected[fault]++;
    return true;
  }

  private kick(): void {
    if (this.stopped) return;
    const now = Date.now();
    while (this.inFlight < (this.options.concurrency ?? 8)) {
      const index = this.queue.findIndex((d) => d.dueAt <= now);
      if (index < 0) break;
      const [delivery] = this.queue.splice(index, 1);
      this.inFlight++;
      void this.attempt(delivery).finally(() => {
        this.inFlight--;
        this.kick();
      });
    }
    if (!this.timer && this.queue.length) {
      const soonest = Math.min(...this.queue.map((d) => d.dueAt));
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.kick();
        },
        Math.max(5, soonest - now),
      );
    }
  }

  private async attempt(delivery: Delivery): Promise<void> {
    delivery.attempts++;
    this.stats.attempts++;
    const bad = this.roll('badSignature');
    const stale = !bad && this.roll('staleTimestamp');
    const at = new Date(Date.now() - (stale ? 600_000 : 0));
    const signature = (bad ? this.wrong : this.webhook).sign(delivery.event.id, at, delivery.body);
    let status = 0;
    try {
      const response = await fetch(this.options.targetUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': delivery.event.id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signature,
          'user-agent': 'junction-sandbox-payment-provider/1',
        },
        body: delivery.body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      status = response.status;
      await response.arrayBuffer().catch(() => undefined);
    } catch {
      status = 0; // connection refused, reset, timed out
    }
    const key = status === 0 ? 'network' : String(status);
    this.stats.byStatus[key] = (this.stats.byStatus[key] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      if (delivery.duplicate) {
        this.stats.duplicatesAnswered++;
        return;
      }
      if (!this.accepted.has(delivery.event.id)) {
        this.accepted.add(delivery.event.id);
        this.acceptedOrder.push(delivery.event.id);
        this.stats.accepted++;
      }
      if (this.roll('duplicate')) {
        this.queue.push({ ...delivery, attempts: 0, duplicate: true, dueAt: Date.now() + 200 + Math.floor(this.random() * 800) });
      }
      return;
    }
    const delays = this.options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const delay = delays[Math.min(delivery.attempts - 1, delays.length - 1)];
    this.queue.push({ ...delivery, dueAt: Date.now() + delay });
  }

  /** Sends what is due now, without waiting for retry delays (after an outage ends, say). */
  retryNow(): void {
    for (const d of this.queue) d.dueAt = Math.min(d.dueAt, Date.now());
    this.kick();
  }

  snapshot(): DeliveryStats {
    return {
      ...this.stats,
      pending: this.queue.length + this.inFlight,
      byStatus: { ...this.stats.byStatus },
      injected: { ...this.stats.injected },
    };
  }

  /** Resolves when every event was answered 2xx and no duplicate is left to send. */
  async drained(timeoutMs = 600_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.queue.length + this.inFlight > 0) {
      if (Date.now() > until)
        throw new Error(`payment provider: ${this.queue.length + this.inFlight} deliveries still pending after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Control over HTTP (the stand-ins' /_admin/payments), for the demo and manual testing
// ---------------------------------------------------------------------------------------------

const ZRate = z.number().min(0).max(1);
const ZEndpoint = z.object({
  targetUrl: z.string().refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), 'must be an http(s):// URL'),
  secret: z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, "must be the endpoint's signing secret (whsec_...)"),
  retryDelaysMs: z.array(z.number().int().min(10).max(3_600_000)).min(1).max(20).optional(),
});
const ZFaults = z.object({ badSignature: ZRate, staleTimestamp: ZRate, duplicate: ZRate, outOfOrder: ZRate }).partial().strict();
const ZEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('payment.succeeded'),
    invoiceNumber: z.string().min(1),
    paymentId: z.string().optional(),
    amount: z.string(),
    currency: z.string().length(3),
  }),
  z.object({
    type: z.literal('payment.refunded'),
    invoiceNumber: z.string().min(1),
    paymentId: z.string().min(1),
    amount: z.string(),
    currency: z.string().length(3),
  }),
  z.object({
    type: z.literal('payout.paid'),
    payoutId: z.string().optional(),
    paymentIds: z.array(z.string().min(1)).max(1000),
    amount: z.string(),
    currency: z.string().length(3),
  }),
]);

export class PaymentsControl {
  provider: PaymentProvider | undefined;
  faults: PaymentFaults = {};
}

function bodyOf<T>(req: SandboxRequest, schema: z.ZodType<T>): T {
  let input: unknown;
  try {
    input = JSON.parse(req.body.toString('utf8'));
  } catch {
    fail(400, 'invalid_request', `${req.method} ${req.path} needs a JSON body`);
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(400, 'invalid_request', `${issue.path.join('.') || 'body'} ${issue.message}`);
  }
  return parsed.data;
}

/**
 * PUT /_admin/payments/endpoint {targetUrl, secret, retryDelaysMs?} where to deliver (the secret is never shown again),
 * PUT /_admin/payments/faults {badSignature, staleTimestamp, duplicate, outOfOrder}, POST /_admin/payments/events
 * {type, ...} emits one event, GET /_admin/payments the delivery statistics.
 */
export function handlePaymentsAdmin(req: SandboxRequest, control: PaymentsControl): Reply {
  const [, , what, ...extra] = req.segments;
  if (extra.length) notFound(req);
  if (what === undefined) {
    if (req.method !== 'GET') methodNotAllowed(req, ['GET']);
    return json(200, { configured: Boolean(control.provider), faults: control.faults, ...(control.provider?.snapshot() ?? {}) });
  }
  if (what === 'endpoint') {
    if (req.method !== 'PUT') methodNotAllowed(req, ['PUT']);
    const e = bodyOf(req, ZEndpoint);
    control.provider?.stop();
    control.provider = new PaymentProvider({ ...e, faults: control.faults });
    return json(200, { configured: true, targetUrl: e.targetUrl });
  }
  if (what === 'faults') {
    if (req.method !== 'PUT') methodNotAllowed(req, ['PUT']);
    control.faults = bodyOf(req, ZFaults);
    control.provider?.setFaults(control.faults);
    return json(200, { faults: control.faults });
  }
  if (what === 'events') {
    if (req.method !== 'POST') methodNotAllowed(req, ['POST']);
    const e = bodyOf(req, ZEvent);
    const p = control.provider;
    if (!p) return fail(409, 'not_configured', 'Configure where to deliver first: PUT /_admin/payments/endpoint');
    const event =
      e.type === 'payment.succeeded' ? p.paymentSucceeded(e) : e.type === 'payment.refunded' ? p.paymentRefunded(e) : p.payoutPaid(e);
    return json(202, { event });
  }
  return notFound(req);
}
