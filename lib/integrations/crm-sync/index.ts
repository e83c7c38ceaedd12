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
 * - a new run re-reads what changed since `lookbackSeconds` before the previous run was requested
 *   (`rereadFrom`), not only from the last updated_at that run saw: a contact written in the
 *   updated_at the walk was paging, with a smaller id (a CRM whose updated_at has whole seconds, or
 *   whose transactions commit late), sorts behind the walk's position and is not in its pages; a
 *   later change then moves the walk, and the position, past that updated_at. Such a contact
 *   appeared while the walk ran, so its updated_at is not much before the run started (the
 *   lookback covers the CRM's timestamp granularity and its clock's skew); re-read contacts that
 *   did not change count as unchanged.
 * The CRM's updated_at must only grow at each change of a contact (the stand-in guarantees it).
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
   * `lookbackSeconds` before the run that wrote it was requested: the next run reads from here when
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
  updated_at: z.string({ error: 'updated_at must be text' }).refine((v) => !Number.isNaN(Date.parse(v)), 'updated_at must be a date-time'),
});

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
    // A resumed attempt goes on from its checkpoint; a new run also re-reads what may have appeared
    // behind the previous run's walk (rereadFrom, when it is earlier).
    let updatedSince = cursor?.updatedSince;
    if (!ctx.run.resumedFrom && updatedSince && cursor?.rereadFrom && Date.parse(cursor.rereadFrom) < Date.parse(updatedSince))
      updatedSince = cursor.rereadFrom;
    const rereadFrom = new Date(ctx.run.createdAt.getTime() - ctx.settings.lookbackSeconds * 1000).toISOString();
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
      `pulling contacts changed since ${updatedSince ?? 'the beginning'}${ctx.run.resumedFrom ? " (resuming from this run's checkpoint)" : updatedSince !== cursor?.updatedSince ? ` (the previous run reached ${cursor?.updatedSince}; re-reading its last ${ctx.settings.lookbackSeconds} s)` : ''}`,
    );
    do {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const page: ContactPage = await ctx.http.getJson<ContactPage>(`${ctx.settings.baseUrl}/v1/contacts`, {
        headers,
        query: { updated_since: updatedSince, cursor: pageToken, limit: ctx.settings.pageSize },
      });
      pages++;
      const storable = storableContacts(page.data, reject);
      await ctx.tx((tx) => applyContacts(tx, storable, counts));
      // Applied: the next attempt of this run starts here (inclusive, so contacts sharing the last
      // updated_at are read again rather than skipped).
      const last = page.data.at(-1);
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
