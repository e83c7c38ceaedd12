import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Transaction } from '../../../db/client';
import { customers } from '../../../db/schema';
import { defineIntegration, httpUrl } from '../../platform/contract';

/**
 * Inbound sync of CRM contacts onto the host platform's customers (upsert by external id), every
 * 15 minutes from a durable `updated_since` cursor. A dry-run reads the same pages and reports the
 * same counts; its database writes are rolled back by the platform.
 *
 * Exactly once under change (README, "Writing an integration that moves data exactly once"):
 * - the CRM pages by a keyset over (updated_at, id) with an inclusive `updated_since`: a contact
 *   changed during the walk moves to its end (seen again, in its newer version), pages cannot
 *   shift under the walk, and contacts sharing an updated_at are re-read, never skipped;
 * - after each applied page the position is checkpointed (`updatedSince` = the page's last
 *   updated_at, inclusive, so ties at the boundary are read again): a retried attempt resumes
 *   there, and the run's end commits it as the cursor; the checkpoint also carries the run's
 *   counts so far, so the result of a resumed run covers every attempt (SyncCheckpoint);
 * - each customer remembers the version it holds (`external_updated_at`); an older version is
 *   never applied over a newer one, so a delayed or superseded attempt cannot undo a later change;
 * - a new run re-reads what changed since `lookbackSeconds` before the previous run's walk began
 *   (`rereadFrom`, on the CRM's clock, its Date header, or on ours when that is earlier), not only
 *   from the last updated_at that run saw: a contact written in the
 *   updated_at the walk was paging, with a smaller id (a CRM whose updated_at has whole seconds, or
 *   whose transactions commit late), sorts behind the walk's position and is not in its pages; a
 *   later change then moves the walk, and the position, past that updated_at. Such a contact
 *   appeared while the walk ran, so its updated_at is not much before the walk began on the CRM's
 *   clock (the lookback covers its timestamp granularity and how late its transactions commit, and
 *   the earlier of the two clocks any skew between them); re-read contacts that
 *   did not change count as unchanged;
 * - a contact stamped in the future (a CRM node whose clock runs ahead) counts as of the CRM's clock
 *   at the read (its Date header; versionOf), for the version the customer holds and for the
 *   position: at face value the position would pass changes stamped meanwhile on the true clock, and
 *   the contact's own next change, stamped before its future stamp, would be refused as stale;
 * - a contact whose updated_at is not a date-time is refused alone (ZStorableContact) and never
 *   becomes the position, which would otherwise be sent back as updated_since and refused by the
 *   CRM on every later attempt and run (a stored position that is not a date-time is not sent).
 * The CRM's updated_at must grow at each change of a contact, up to its clock: a stamp ahead of the
 * clock is capped as above (the stand-in's `clockAheadSeconds` fault makes such stamps).
 */

const settings = z.object({
  baseUrl: httpUrl('http://localhost:4000/crm'),
  pageSize: z.number().int().min(1).max(200, 'must be at most 200 (the API limit)'),
  /** A new run re-reads contacts changed from this long before the previous run was requested. */
  lookbackSeconds: z.number().int().min(0, 'must be 0 or more seconds').max(86_400, 'must be at most 86400 seconds (a day)').default(300),
});

interface Contact {
  id: string;
  name: string;
  email: string | null;
  country: string;
  currency: string;
  updated_at: string;
}

interface ContactPage {
  data: Contact[];
  next_cursor: string | null;
}

interface SyncCursor {
  updatedSince: string;
  /**
   * `lookbackSeconds` before the walk of the run that wrote it began, on the earlier of the CRM's
   * clock and ours (see execute): the next run reads from here when
   * it is before `updatedSince`. Absent in cursors written before it was added.
   */
  rereadFrom?: string;
}

export interface ApplyCounts {
  created: number;
  updated: number;
  unchanged: number;
  /** Versions older than the one the customer already holds: not applied. */
  stale: number;
}

/** A contact the host cannot store as it is (see ZStorableContact): not applied, listed in the run's result. */
export interface ContactRejection {
  id: string;
  field: string;
  reason: string;
}

/** The run's counts up to a checkpoint. */
interface SyncTally extends ApplyCounts {
  pages: number;
  /** Contacts refused (ContactRejection); absent in checkpoints written before it was added. */
  rejectedCount?: number;
}

const NO_TALLY: SyncTally = { created: 0, updated: 0, unchanged: 0, stale: 0, pages: 0, rejectedCount: 0 };
const MAX_LISTED_REJECTIONS = 200;

const noNul = (field: string) =>
  z
    .string({ error: `${field} must be text` })
    .refine((v) => !v.includes('\0'), `${field} holds a NUL character (\\u0000), which the host cannot store`);

/**
 * What the host can store of a contact. One that fails (a NUL character, which PostgreSQL text
 * refuses; no name, which customers require) is refused on its own: applied with the others it
 * would fail its page's transaction on every attempt of every run, and no contact after it would
 * ever be synced. It is passed by the position like the others and read again when it changes in
 * the CRM.
 */
const ZStorableContact = z.object({
  id: noNul('id').min(1, 'id must not be empty'),
  name: noNul('name'),
  email: noNul('email').nullable(),
  country: noNul('country'),
  currency: noNul('currency'),
  updated_at: z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'updated_at is missing (must be a date-time)'
          : `updated_at must be a date-time (got ${typeof issue.input === 'object' ? String(issue.input) : typeof issue.input})`,
    })
    .refine((v) => Number.isFinite(Date.parse(v)), 'updated_at must be a date-time (got text that is not one)'),
});

/**
 * How far a contact's updated_at may be after the CRM's clock at the read (its Date header, which
 * has whole seconds) before it counts as stamped in the future.
 */
const DATE_HEADER_GRANULARITY_MS = 1000;

/**
 * A contact's version as the host counts it: its updated_at, or the CRM's clock at the read
 * (`crmNow`) when it is stamped in the future (a CRM node whose clock runs ahead). Counted at its
 * face value, such a version would sort after the contact's next change stamped on the true clock:
 * that change would be refused as stale until the true clock caught up, and a position taken from
 * it would pass changes made meanwhile. Capped at the read, it sorts before any change made after
 * the read, and after any version read before it. Only for a storable contact (its updated_at
 * parses); ISO 8601 in UTC with milliseconds, as the CRM's API takes it back in updated_since.
 */
export function versionOf(contact: Contact, crmNow: number): string {
  const at = Date.parse(contact.updated_at);
  return new Date(at >= crmNow + DATE_HEADER_GRANULARITY_MS ? crmNow : at).toISOString();
}

/** The CRM's clock when it answered: its Date header, else this worker's clock on receipt. */
function clockOf(response: Response): number {
  const header = Date.parse(response.headers.get('date') ?? '');
  return Number.isFinite(header) ? header : Date.now();
}

/** A stored position that is a date-time, as ISO 8601; undefined for one that is not (written by an earlier version). */
function validPosition(value: unknown): string | undefined {
  const at = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(at) ? new Date(at).toISOString() : undefined;
}

/** The contacts of a page the host can store; the others are handed to `reject`. */
export function storableContacts(contacts: Contact[], reject: (r: ContactRejection) => void): Contact[] {
  return contacts.filter((contact) => {
    const parsed = ZStorableContact.safeParse(contact);
    if (parsed.success) return true;
    const issue = parsed.error.issues[0];
    const id = typeof contact?.id === 'string' ? contact.id.replaceAll('\0', '\uFFFD') : '(no id)';
    reject({ id, field: issue.path.join('.') || '(contact)', reason: issue.message });
    return false;
  });
}

/**
 * What crm-sync checkpoints after each applied page: the position and the run's counts up to it,
 * so that an attempt resuming from it reports the whole run (every attempt), not only its own
 * work. The counts belong to the run that wrote them, yet the run's last checkpoint becomes the
 * integration's cursor when the run ends: in a value read from the committed cursor (a new run)
 * they are the previous run's and are ignored. They are read only from `ctx.run.resumedFrom`.
 * Absent in checkpoints and cursors written before they were added (counted as zero).
 */
interface SyncCheckpoint extends SyncCursor {
  tally?: SyncTally;
}

/**
 * Applies a page of contacts onto customers by external id, in one transaction, never an older
 * version over a newer one (the comparison is in the UPDATE itself, so it holds against a
 * concurrent writer too).
 */
export async function applyContacts(tx: Transaction, contacts: Contact[], counts: ApplyCounts): Promise<void> {
  for (const contact of contacts) {
    const version = new Date(contact.updated_at);
    const values = { name: contact.name, email: contact.email, country: contact.country, currency: contact.currency };
    const [existing] = await tx.select().from(customers).where(eq(customers.externalId, contact.id));
    if (!existing) {
      const inserted = await tx
        .insert(customers)
        .values({ ...values, externalId: contact.id, externalUpdatedAt: version })
        .onConflictDoNothing()
        .returning({ id: customers.id });
      if (inserted.length) {
        counts.created++;
        continue;
      }
    }
    const held = existing?.externalUpdatedAt?.getTime();
    if (held !== undefined && held > version.getTime()) {
      counts.stale++;
      continue;
    }
    const same =
      existing &&
      existing.name === values.name &&
      existing.email === values.email &&
      existing.country === values.country &&
      existing.currency === values.currency;
    if (same && held === version.getTime()) {
      counts.unchanged++;
      continue;
    }
    const applied = await tx
      .update(customers)
      .set(same ? { externalUpdatedAt: version } : { ...values, externalUpdatedAt: version, updatedAt: sql`now()` })
      .where(and(eq(customers.externalId, contact.id), or(isNull(customers.externalUpdatedAt), lte(customers.externalUpdatedAt, version))))
      .returning({ id: customers.id });
    if (applied.length === 0) counts.stale++;
    else if (same) counts.unchanged++;
    else counts.updated++;
  }
}

export const crmSync = defineIntegration({
  name: 'crm-sync',
  description: 'Inbound sync of CRM contacts onto customers, every 15 minutes',
  settings,
  secrets: ['apiKey'],
  breakerKey: 'crm-api',
  defaults: {
    schedule: '*/15 * * * *',
    timezone: 'UTC',
    retry: { delays: ['30s', '2m', '5m'] },
    breaker: { failures: 3, cooldown: '1m' },
    settings: { baseUrl: `${process.env.SANDBOX_URL ?? 'http://localhost:4000'}/crm`, pageSize: 100, lookbackSeconds: 300 },
  },
  async execute(ctx) {
    // This run's last checkpoint when a retried attempt resumes, else the committed cursor.
    const cursor = await ctx.cursor.get<SyncCheckpoint>();
    // A position that is not a date-time (an earlier version took a contact's unparseable updated_at
    // as one) is not sent: the CRM would refuse it on every attempt. The walk starts from rereadFrom
    // instead, or from the beginning.
    const stored = validPosition(cursor?.updatedSince);
    const storedRereadFrom = validPosition(cursor?.rereadFrom);
    if (cursor?.updatedSince !== undefined && stored === undefined)
      ctx.log.warn(
        `the stored position ${JSON.stringify(cursor.updatedSince)} is not a date-time: reading from ${storedRereadFrom ?? 'the beginning'} instead`,
      );
    // A resumed attempt goes on from its checkpoint; a new run also re-reads what may have appeared
    // behind the previous run's walk (rereadFrom, when it is earlier).
    let updatedSince = stored ?? storedRereadFrom;
    if (!ctx.run.resumedFrom && updatedSince && storedRereadFrom && storedRereadFrom < updatedSince) updatedSince = storedRereadFrom;
    // The next run's reread bound (rereadFrom): lookbackSeconds before this run's walk began, on
    // the CRM's clock (its Date header at this attempt's first read), which stamps the contacts
    // that appear behind the walk, or on ours (the run's creation) when that is earlier. On ours
    // alone, a CRM whose clock is behind ours by more than the lookback had such a contact's stamp
    // before the bound, and no later run read it. The earliest over the run's attempts: a resumed
    // attempt keeps its checkpoint's when that is earlier.
    const lookbackMs = ctx.settings.lookbackSeconds * 1000;
    const resumedRereadFrom = validPosition((ctx.run.resumedFrom?.value as SyncCheckpoint | null | undefined)?.rereadFrom);
    let rereadFrom: string | undefined;
    const earliestRereadFrom = (crmNow: number) =>
      new Date(
        Math.min(
          ctx.run.createdAt.getTime() - lookbackMs,
          crmNow - lookbackMs,
          resumedRereadFrom === undefined ? Infinity : Date.parse(resumedRereadFrom),
        ),
      ).toISOString();
    // What earlier attempts of this run did; a new run starts from zero whatever the cursor holds.
    // A resumed attempt reads the contacts at its checkpoint's updated_at again (inclusive): they
    // count again, mostly as unchanged.
    const {
      pages: earlierPages,
      rejectedCount: earlierRejected = 0,
      ...earlier
    }: SyncTally = {
      ...NO_TALLY,
      ...(ctx.run.resumedFrom ? (ctx.run.resumedFrom.value as SyncCheckpoint | null)?.tally : undefined),
    };
    // The count is the run's; the list is this attempt's (a list is not carried in the checkpoint).
    let rejectedCount = earlierRejected;
    const rejected: ContactRejection[] = [];
    const reject = (r: ContactRejection) => {
      rejectedCount++;
      if (rejected.length < MAX_LISTED_REJECTIONS) rejected.push(r);
      ctx.log.warn(`contact ${r.id} not applied: ${r.reason}`, { field: r.field });
    };
    const counts: ApplyCounts = { ...earlier };
    const handled = () => counts.created + counts.updated + counts.unchanged + counts.stale;
    const handledEarlier = handled();
    if (ctx.run.resumedFrom) ctx.progress(handledEarlier);
    let pageToken: string | null = null;
    let pages = earlierPages;
    const headers: Record<string, string> = ctx.secrets.apiKey ? { 'x-api-key': ctx.secrets.apiKey } : {};
    ctx.log.info(
      `pulling contacts changed since ${updatedSince ?? 'the beginning'}${ctx.run.resumedFrom ? " (resuming from this run's checkpoint)" : stored && updatedSince !== stored ? ` (the previous run reached ${stored}; re-reading its last ${ctx.settings.lookbackSeconds} s)` : ''}`,
    );
    do {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const response = await ctx.http.get(`${ctx.settings.baseUrl}/v1/contacts`, {
        headers,
        query: { updated_since: updatedSince, cursor: pageToken, limit: ctx.settings.pageSize },
      });
      const crmNow = clockOf(response);
      rereadFrom ??= earliestRereadFrom(crmNow);
      const page = (await response.json()) as ContactPage;
      pages++;
      // Each contact at its version (versionOf: a future stamp counts as the CRM's clock at the read).
      const storable = storableContacts(page.data, reject).map((contact) => {
        const version = versionOf(contact, crmNow);
        if (Date.parse(version) < Date.parse(contact.updated_at))
          ctx.log.warn(
            `contact ${contact.id} is stamped ${contact.updated_at}, after the CRM's clock (${version}): counted as of ${version}`,
          );
        return { ...contact, updated_at: version };
      });
      await ctx.tx((tx) => applyContacts(tx, storable, counts));
      // Applied: the next attempt of this run starts here (inclusive, so contacts sharing the last
      // updated_at are read again rather than skipped). The position is the last storable contact's
      // version: never an updated_at that is not a date-time (the CRM would refuse it as
      // updated_since on every later attempt and run), never past the CRM's clock at the read.
      const last = storable.at(-1);
      if (last)
        await ctx.cursor.checkpoint({
          updatedSince: last.updated_at,
          rereadFrom,
          tally: { ...counts, pages, rejectedCount },
        } satisfies SyncCheckpoint);
      pageToken = page.next_cursor;
      ctx.progress(handled());
      ctx.log.info(`page ${pages}: ${page.data.length} contacts`, { ...counts });
    } while (pageToken);
    const processed = handled();
    const summary =
      `${ctx.dryRun ? 'Would create' : 'Created'} ${counts.created}, ${ctx.dryRun ? 'would update' : 'updated'} ${counts.updated}, ${counts.unchanged} unchanged` +
      (counts.stale ? `, ${counts.stale} older than what is applied (skipped)` : '') +
      (rejectedCount ? `, ${rejectedCount} refused (the host cannot store them as they are; see rejected)` : '') +
      (handledEarlier ? ` (${handledEarlier} of these contacts in earlier attempts of this run)` : '');
    return {
      processed,
      summary,
      ...counts,
      pages,
      rejectedCount,
      rejected,
      // The share of the counts above done by earlier attempts of this run (null: not resumed).
      earlierAttempts: ctx.run.resumedFrom ? { ...earlier, pages: earlierPages, rejectedCount: earlierRejected } : null,
    };
  },
});
