import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { PgBoss } from 'pg-boss';
import type { Database } from '../../../db/client';
import { integrations, runs, webhookRejections } from '../../../db/schema';
import type { EventsDeclaration, IntegrationDefinition, Registry, WebhookDelivery } from '../contract';
import { insertRun } from '../execution/run-create';
import type { Keyring } from '../governance/crypto';
import { recordWebhookIntake } from '../observability/metrics';
import { activeTraceparent } from '../observability/tracing';
import { BodyTimeoutError } from './body-deadline';
import { activeWebhookSecrets } from './secrets';
import { verifySignature } from './signature';

/**
 * The intake: one delivery to `POST /hooks/<integration>`, from raw bytes to an answer.
 *
 * 404 unknown integration (or one that receives no events) → 415 not JSON → 413 over the limit
 * (408 when the body does not arrive within WEBHOOK_BODY_TIMEOUT_MS, body-deadline.ts) →
 * 401 signature (over the raw body, before parsing) or timestamp outside the window → 400 not
 * JSON / no event id or type → 200. A known event id with the same payload answers 200
 * `duplicate: true` and creates nothing; with another payload, 409 (nothing stored or counted). A new event is inserted together with its processing run (the integration's queued
 * event run, or a new one with its pg-boss job) in ONE transaction; the 200 is sent after it
 * commits, so a sender that got a 2xx can forget the event. Refusals of a known integration are
 * recorded with metadata only (never the body, a signature or a secret).
 */

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export interface IntakeDeps {
  db: Database;
  boss: PgBoss;
  registry: Registry;
  keyring: Keyring;
}

export interface IntakeRequest {
  integration: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
  /**
   * Reads the body up to `limit` bytes; returns null when it is longer. Throws BodyTimeoutError
   * when it does not end within the server's deadline (answered 408, recorded).
   */
  readBody(limit: number): Promise<Buffer | null>;
  remote?: string | null;
}

export interface IntakeAnswer {
  status: number;
  body: Record<string, unknown>;
}

const FIELD_MAX = 200;

/**
 * An event id, type or ordering key read from a delivery: text (or a number) of at most FIELD_MAX
 * characters without control characters, or why not. A field that is there but unusable is named
 * as such: "no event type" for a type of 300 characters sent the sender looking for a missing field.
 */
function deliveryField(value: unknown): { value?: string; problem?: string } {
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (value === undefined || value === null) return {};
  if (typeof value !== 'string')
    return { problem: `is ${Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not text` };
  const trimmed = value.trim();
  if (!trimmed) return {};
  if (trimmed.length > FIELD_MAX) return { problem: `is ${trimmed.length} characters long: at most ${FIELD_MAX} are accepted` };
  if ([...trimmed].some((c) => c.charCodeAt(0) < 0x20))
    return { problem: 'holds a control character (a tab, a line break): none are accepted' };
  return { value: trimmed };
}

/** The field's value when it is usable (for a refusal's row, which records what it can). */
function usable(value: unknown): string | undefined {
  return deliveryField(value).value;
}

/** What an endpoint of an integration that receives no events (or of no integration) answers, whatever the method. */
export const NO_SUCH_ENDPOINT = 'no such webhook endpoint';

export function eventsOf(registry: Registry, name: string): { def: IntegrationDefinition; events: EventsDeclaration } | null {
  const def = registry.get(name);
  return def?.events ? { def, events: def.events } : null;
}

async function reject(
  deps: IntakeDeps,
  req: IntakeRequest,
  status: number,
  reason: string,
  extra: { eventId?: string; contentLength?: number } = {},
): Promise<IntakeAnswer> {
  try {
    await deps.db.insert(webhookRejections).values({
      integration: req.integration,
      status,
      reason,
      eventId: extra.eventId?.slice(0, FIELD_MAX) ?? null,
      contentType: req.headers['content-type']?.slice(0, 100) ?? null,
      contentLength: extra.contentLength ?? (Number(req.headers['content-length']) || null),
      remote: req.remote?.slice(0, 100) ?? null,
    });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    console.warn(
      `[intake] could not record a refused delivery for '${req.integration}': ${cause instanceof Error ? cause.message : 'query failed'}`,
    );
  }
  return { status, body: { error: reason } };
}

export async function receiveWebhook(deps: IntakeDeps, req: IntakeRequest): Promise<IntakeAnswer> {
  let answer: IntakeAnswer;
  try {
    answer = await answerDelivery(deps, req);
  } catch (error) {
    // Not stored (an outage: the sender gets a 503 and retries). Thrown only past the unknown
    // endpoint's 404, so the name is one of ours.
    recordWebhookIntake(req.integration, 'failed');
    throw error;
  }
  // Unknown endpoints are not counted: their names come from the caller and would be labels.
  if (answer.status !== 404) {
    recordWebhookIntake(req.integration, answer.status !== 200 ? 'rejected' : answer.body.duplicate ? 'duplicate' : 'accepted');
  }
  return answer;
}

/**
 * Why a body that stalled or trickled past the deadline was refused, in words a sender can act on:
 * how much of it came, and that the whole body must be sent within the bound.
 */
function bodyTimeoutReason(error: BodyTimeoutError, declared: number): string {
  const came = Number.isFinite(declared)
    ? `${error.received} of the ${declared} bytes of Content-Length came`
    : `${error.received} bytes came and the body never ended`;
  return `the body did not arrive within ${error.timeoutMs / 1000} s: ${came}; send the whole body within ${error.timeoutMs / 1000} s of the headers`;
}

/** `\u0000` in JSON text after an even number of backslashes (none, or escaped ones): a NUL character. */
const NUL_ESCAPE = /(?:^|[^\\])(?:\\\\)*\\u0000/i;
async function answerDelivery(deps: IntakeDeps, req: IntakeRequest): Promise<IntakeAnswer> {
  const found = eventsOf(deps.registry, req.integration);
  if (!found) return { status: 404, body: { error: NO_SUCH_ENDPOINT } };
  const { def, events } = found;

  const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (contentType !== 'application/json') return reject(deps, req, 415, 'content type must be application/json');

  const limit = events.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return reject(deps, req, 413, `body over ${limit} bytes`);
  let raw: Buffer | null;
  try {
    raw = await req.readBody(limit);
  } catch (error) {
    if (!(error instanceof BodyTimeoutError)) throw error;
    return reject(deps, req, 408, bodyTimeoutReason(error, declared), { eventId: usable(req.headers['webhook-id']) });
  }
  if (raw === null) return reject(deps, req, 413, `body over ${limit} bytes`);

  const secrets = await activeWebhookSecrets(deps.db, deps.keyring, def.name);
  const verified = verifySignature(events, secrets, raw, req.headers);
  if (!verified.ok)
    return reject(deps, req, 401, verified.reason, { contentLength: raw.length, eventId: usable(req.headers['webhook-id']) });

  // The signature is good: the sender's event id header (Standard Webhooks signs it) names, on the
  // Events tab, which event the sender has to fix when its body is refused below.
  const signedId = usable(req.headers['webhook-id']);
  let body: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    body = JSON.parse(text);
  } catch {
    return reject(deps, req, 400, 'body is not valid UTF-8 JSON', { eventId: signedId, contentLength: raw.length });
  }
  // PostgreSQL's jsonb cannot hold U+0000: refused here rather than failing at the insert (and
  // making the sender retry forever). Only an escape is one: `\\u0000` (an escaped backslash, then
  // the text u0000) is stored as it came.
  if (NUL_ESCAPE.test(text))
    return reject(deps, req, 400, 'body contains \\u0000, which cannot be stored', { eventId: signedId, contentLength: raw.length });
  const delivery: WebhookDelivery = { headers: req.headers, body };
  let id: ReturnType<typeof deliveryField> = {};
  let kind: ReturnType<typeof deliveryField> = {};
  let ordering: ReturnType<typeof deliveryField> = {};
  let version: number | undefined;
  try {
    id = deliveryField(events.idFrom ? events.idFrom(delivery) : req.headers['webhook-id']);
    kind = deliveryField(events.typeFrom(delivery));
    ordering = deliveryField(events.orderingKeyFrom?.(delivery));
    const v = events.versionFrom?.(delivery);
    version = typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
  } catch {
    // A declaration that throws on an odd body: the fields are missing.
  }
  const eventId = id.value;
  const type = kind.value;
  const orderingKey = ordering.value;
  if (id.problem) return reject(deps, req, 400, `the event id ${id.problem}`, { contentLength: raw.length });
  if (!eventId) return reject(deps, req, 400, 'no event id in the delivery', { contentLength: raw.length });
  if (kind.problem) return reject(deps, req, 400, `the event type ${kind.problem}`, { eventId, contentLength: raw.length });
  if (!type) return reject(deps, req, 400, 'no event type in the delivery', { eventId, contentLength: raw.length });
  // Ignoring an unusable ordering key would apply the event out of order, unnoticed.
  if (ordering.problem) return reject(deps, req, 400, `the ordering key ${ordering.problem}`, { eventId, contentLength: raw.length });

  let outcome: Outcome;
  try {
    outcome = await groupCommitFor(deps, def.name).add({
      eventId,
      type,
      orderingKey: orderingKey ?? null,
      version: version ?? null,
      payloadText: text,
      signedAt: verified.signedAt.toISOString(),
      // This delivery's webhook.receive span: the run applying the event links to it when the event
      // joins a run queued by an earlier delivery (whose trace the run continues).
      traceParent: activeTraceparent(),
    });
  } catch (error) {
    // A body JSON.parse accepts and jsonb does not (an unpaired surrogate escape, a number beyond
    // numeric's range, nesting past the server's stack) fails the same way at every retry: refused
    // as the sender's, so it stops retrying and the Events tab shows why. The group commit has
    // already retried this delivery alone, so the refusal is its own body's.
    const refusal = unstorableBody(error);
    if (refusal) return reject(deps, req, 400, refusal, { eventId, contentLength: raw.length });
    throw error;
  }
  // Not applied, not counted as a duplicate: refused where operators look, so a sender bug or a
  // forged replay is seen instead of losing the second event's data.
  if (outcome === 'conflict') return reject(deps, req, 409, ID_REUSED, { eventId, contentLength: raw.length });
  return { status: 200, body: { received: true, id: eventId, duplicate: outcome === 'duplicate' } };
}

/** The answer to a known event id with another payload (409). */
export const ID_REUSED = 'this event id was already received with a different payload: send a new id for a new event';

/**
 * Why PostgreSQL refused to store a body as jsonb, when the refusal is the body's: a data
 * exception (SQLSTATE class 22: invalid JSON text, numeric overflow) or nesting too deep for the
 * server (54001). Null for anything else (an outage, a bug): those stay 503, worth a retry.
 */
function unstorableBody(error: unknown): string | null {
  for (
    let e = error as { code?: unknown; message?: unknown; detail?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 4;
    depth++
  ) {
    if (typeof e.code === 'string') {
      if (e.code === '54001') return 'body nests too deeply to be stored';
      if (e.code.startsWith('22')) {
        const detail = typeof e.detail === 'string' && e.detail ? `: ${e.detail.replace(/\.$/, '')}` : '';
        return `body cannot be stored as JSON (${String(e.message)}${detail})`.slice(0, 300);
      }
      return null;
    }
    e = e.cause as typeof e;
  }
  return null;
}

/**
 * Group commit. Deliveries of one integration that arrive while an earlier group is being written
 * are gathered and stored together by ONE statement: a multi-row INSERT ... ON CONFLICT (dedupe by
 * event id, a known id with the same payload counted as a duplicate, with another refused) sharing the share lock on the integration's queued
 * event run. Each delivery's promise settles only after that statement has committed, so every 2xx
 * still means "stored with its run". Nothing waits for a timer: a delivery that finds a free slot
 * goes at once (no added latency when quiet); under load the groups grow by themselves.
 */
interface Delivery {
  eventId: string;
  type: string;
  orderingKey: string | null;
  version: number | null;
  /** The body's text, already checked to be JSON: stored as sent, never re-serialised. */
  payloadText: string;
  signedAt: string;
  /** The W3C traceparent of the span that received the delivery, or null without tracing. */
  traceParent: string | null;
}
interface Waiting extends Delivery {
  resolve(outcome: Outcome): void;
  reject(error: unknown): void;
}

/** Groups written at the same time per integration (each holds one pooled connection). */
const FLUSH_SLOTS = 2;
/** Deliveries per statement at most. */
const GROUP_MAX = 250;
/** Body characters per statement, about (a group of 256 KiB bodies would otherwise be 64 MB). */
const GROUP_MAX_BYTES = 4 * 1024 * 1024;

class GroupCommit {
  private queue: Waiting[] = [];
  private running = 0;
  constructor(
    private readonly deps: IntakeDeps,
    private readonly integration: string,
  ) {}

  add(delivery: Delivery): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      this.queue.push({ ...delivery, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    while (this.running < FLUSH_SLOTS && this.queue.length > 0) {
      // At most GROUP_MAX deliveries and about GROUP_MAX_BYTES of bodies (one statement parameter).
      let take = 0;
      let bytes = 0;
      while (take < this.queue.length && take < GROUP_MAX && (take === 0 || bytes + this.queue[take].payloadText.length <= GROUP_MAX_BYTES))
        bytes += this.queue[take++].payloadText.length;
      const group = this.queue.splice(0, take);
      this.running++;
      void this.flush(group).finally(() => {
        this.running--;
        this.kick();
      });
    }
  }

  private async flush(group: Waiting[]): Promise<void> {
    try {
      const stored = await storeGroup(this.deps, this.integration, group);
      for (const w of group) {
        const outcome = stored.get(w);
        if (outcome) w.resolve(outcome);
        else w.reject(new Error('the group commit returned no outcome for a delivery'));
      }
    } catch (error) {
      if (group.length === 1) {
        group[0].reject(error);
        return;
      }
      // One delivery the database refuses must not sink the others: each alone.
      await Promise.all(group.map((w) => this.flush([w])));
    }
  }
}

const groupCommits = new WeakMap<Database, Map<string, GroupCommit>>();

function groupCommitFor(deps: IntakeDeps, integration: string): GroupCommit {
  let byName = groupCommits.get(deps.db);
  if (!byName) groupCommits.set(deps.db, (byName = new Map()));
  let group = byName.get(integration);
  if (!group) byName.set(integration, (group = new GroupCommit(deps, integration)));
  return group;
}

/**
 * Stores a group; returns per delivery what became of it: `stored` (the first delivery of a new
 * event id), `duplicate` (an id already stored, or stored by an earlier delivery of the group, WITH
 * THE SAME PAYLOAD: counted on that event) or `conflict` (the id is known with ANOTHER payload:
 * nothing is written, the caller refuses it with 409).
 *
 * Under Standard Webhooks the event id is the idempotency key: the same id with another body is a
 * sender bug or a forged replay, and counting it as a duplicate would drop its data silently.
 * Equality is jsonb equality of the parsed bodies, not a hash of the raw bytes, because:
 * - the stored jsonb is exactly what the handler is given (`payload`), so two bodies with equal
 *   jsonb cannot carry anything the stored event does not: nothing is lost by treating them as one;
 * - a sender may re-serialise an event on retry (other key order, whitespace, `1.0` for `1`): that is
 *   the same event, and a byte hash would refuse its retry with 409 forever;
 * - events stored before this check have no raw bytes to hash, only their jsonb.
 * The comparison is made by PostgreSQL inside the INSERT ... ON CONFLICT that also decides
 * "new or known": against the committed row, which ON CONFLICT locks and re-reads (a concurrent
 * group storing the same id in another process is waited for, then compared against), and, inside
 * the group, against the first delivery of the id (the one stored) or the stored row.
 */
type Outcome = 'stored' | 'duplicate' | 'conflict';

async function storeGroup(deps: IntakeDeps, integration: string, group: Waiting[]): Promise<Map<Waiting, Outcome>> {
  const ids = new Set(group.map((w) => w.eventId));
  // One jsonb parameter for the whole group; payloads are spliced in as the sender's own JSON text.
  const rows = group.map(
    (w, n) =>
      `{"n":${n},"e":${JSON.stringify(w.eventId)},"t":${JSON.stringify(w.type)},"k":${JSON.stringify(w.orderingKey)},"v":${w.version ?? 'null'},"s":"${w.signedAt}","tp":${JSON.stringify(w.traceParent)},"p":${w.payloadText}}`,
  );
  // input: every delivery; firsts: the first delivery of each id (the one stored when the id is new),
  // with how many later deliveries of the group repeat its payload (its duplicates). A known id is
  // counted (and locked, and re-read) by ON CONFLICT only when a delivery of the group has its
  // payload; otherwise the row is left alone and every delivery of that id is a conflict.
  const statement = (anyway: boolean) => sql`
    with queued as (
      select id from runs
       where integration = ${integration} and trigger = 'event' and dry_run = false
         and status in ('queued', 'deferred') and started_at is null and hold is null
       limit 1 for share),
    input as (
      select * from jsonb_to_recordset(${`[${rows.join(',')}]`}::jsonb)
        as x(n int, e text, t text, k text, v bigint, s timestamptz, tp text, p jsonb)),
    firsts as (
      select distinct on (e) n, e, t, k, v, s, tp, p,
             (select count(*) from input o where o.e = i.e and o.n <> i.n and o.p = i.p)::int as d
        from input i order by e, n),
    stored as (
      insert into webhook_events (integration, event_id, event_type, ordering_key, version, payload, signed_at, trace_parent, duplicates, last_duplicate_at)
      select ${integration}, e, t, k, v, p, s, tp, d, case when d > 0 then now() end
        from firsts where ${anyway} or exists (select 1 from queued) order by n
      on conflict (integration, event_id)
      do update set duplicates = webhook_events.duplicates
                      + (select count(*)::int from input o where o.e = excluded.event_id and o.p = webhook_events.payload),
                    last_duplicate_at = now()
         where exists (select 1 from input o where o.e = excluded.event_id and o.p = webhook_events.payload)
      returning event_id, (xmax = 0) as inserted, payload)
    select (select id from queued) as run_id,
           (select coalesce(json_agg(json_build_array(i.n,
                      case when s.event_id is null then 'conflict'
                           when s.inserted and i.n = f.n then 'stored'
                           when i.p = s.payload then 'duplicate'
                           else 'conflict' end)), '[]'::json)
              from input i join firsts f on f.e = i.e left join stored s on s.event_id = i.e) as outcomes`;
  type Row = { run_id: string | null; outcomes: [number, Outcome][] };
  const settle = (row: Row) => new Map(row.outcomes.map(([n, outcome]) => [group[n], outcome]));
  // The common case: the integration has an event run that has not started; ONE round trip,
  // atomic on its own (the event rows commit with the lock that keeps that run from starting).
  const [fast] = await deps.db.execute<Row>(statement(false));
  if (fast?.run_id) return settle(fast);
  // No such run: nothing was written. Create it (with its pg-boss job) and store the group in one
  // transaction.
  return deps.db.transaction(async (tx) => {
    // Only known ids (duplicates or conflicts): counted, and no run is needed.
    const [known] = await tx.execute<{ n: number }>(
      sql`select count(*)::int as n from webhook_events where integration = ${integration} and event_id in (select jsonb_array_elements_text(${JSON.stringify([...ids])}::jsonb))`,
    );
    if (known.n === ids.size) {
      const [row] = await tx.execute<Row>(statement(true));
      return settle(row);
    }
    await ensureEventRun(tx, deps.boss, integration);
    const [row] = await tx.execute<Row>(statement(false));
    if (!row?.run_id) throw new Error('the event run created for this delivery is not visible');
    return settle(row);
  });
}

/** The event run of this integration that has not started yet (locked against starting), if any. */
function waitingEventRun(tx: Parameters<Parameters<Database['transaction']>[0]>[0], integration: string) {
  return tx
    .select({ id: runs.id })
    .from(runs)
    .where(
      and(
        eq(runs.integration, integration),
        eq(runs.trigger, 'event'),
        eq(runs.dryRun, false),
        inArray(runs.status, ['queued', 'deferred']),
        isNull(runs.startedAt),
        isNull(runs.hold),
      ),
    )
    .limit(1)
    .for('share');
}

/**
 * Makes sure a run will apply the events committed with this transaction: the integration's event
 * run that has not started yet (locked, so it cannot start before this transaction commits: its
 * start updates the same row and waits, and then reads the new event), or a new one with its job.
 */
export async function ensureEventRun(
  tx: Parameters<Parameters<Database['transaction']>[0]>[0],
  boss: PgBoss,
  integration: string,
): Promise<string> {
  const [queued] = await waitingEventRun(tx, integration);
  // Re-checked under the lock (READ COMMITTED re-evaluates the row): still not started.
  if (queued) return queued.id;
  // None waiting: one creator at a time per integration, so a burst creates one run, not one each.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`junction-event-run:${integration}`}, 0))`);
  const [again] = await waitingEventRun(tx, integration);
  if (again) return again.id;
  const [row] = await tx.select().from(integrations).where(eq(integrations.name, integration));
  return insertRun(tx, boss, { integration: row, trigger: 'event', triggeredBy: 'webhook', dryRun: false });
}
