import { hash } from 'node:crypto';
import { z } from 'zod';
import { defineIntegration, httpUrl } from '../../platform/contract';
import { isHttpError, PermanentError } from '../../platform/errors';
import type { MapResult } from '../../platform/mapping';
import { defaultJournalMapping, invoiceSamples } from './mapping';
import { journalReversal } from './reversal';
import {
  countInvoicesAfter,
  invoiceExternalId,
  readInvoicesAfter,
  type ExportedItem,
  type ExportWatermark,
  type InvoiceRecord,
} from './source';

/**
 * Nightly export of posted invoices as journal entries to the accounting system, and of reversals
 * of the ones voided or deleted after they were posted. Everything that is not about invoices and journal
 * entries (OAuth2, retries, the breaker, dry-run, audit, alerting, scheduling, the field mapping,
 * checkpoints, change capture) is the platform's.
 *
 * Exactly once under change (README, "Writing an integration that moves data exactly once"):
 * - every entry carries `externalId = <invoice id>@<version>` (version = updated_at in
 *   microseconds), which the accounting API books at most once whatever batch it arrives in: a
 *   retried attempt may cut its batches differently (an invoice edited in between leaves the
 *   run's range) and still books nothing twice; an edited invoice is a new version, booked by the
 *   next run, and replaces the booking of the version before: every entry names its invoice in
 *   `replaces`, so the API undoes that invoice's open bookings in the step it books this one (one
 *   booking open per invoice, the latest version read; a first booking replaces nothing, a refused
 *   one changes nothing, a replay undoes nothing again). Versions are read in order: a run reads an
 *   invoice as it is below the capture bound, so no entry ever replaces a newer version;
 * - after each acknowledged batch the position is checkpointed, so a retried attempt resumes
 *   there and the run's end commits it as the cursor; the checkpoint also carries the run's tally
 *   so far, so the result of a resumed run counts the work of every attempt (ExportCheckpoint);
 * - invoices are read below the platform's late-commit-safe bound (ctx.captureBound), so an
 *   invoice whose transaction commits after the run read past its timestamp is not skipped;
 * - an invoice refused by the mapping, or by the API given what the mapping made of it, is passed
 *   by the position like any other; where the first one was read and under which mapping
 *   (ctx.mappingVersion) ride along in the checkpoint (RejectedSince), and the first run after an
 *   admin saves another mapping reads again from there: the fix may make them bookable, and the
 *   invoices booked in between are answered as replays, not booked again.
 * The batch `Idempotency-Key` (derived from the batch's content) still makes the per-request
 * retry of a timed-out POST safe.
 *
 * Voided invoices: a void is a new version of the invoice (updated_at moves), read in the same
 * (updated_at, id) order as any change, so every guarantee above holds for it. An invoice voided
 * after it was posted (posted_at kept) is sent as a reversal entry (./reversal.ts, a fixed shape,
 * not the field mapping) with `externalId = <invoice id>@<version of the void>`, which the API
 * applies at most once; the API undoes every booking of that invoice not undone yet (it knows which
 * versions it booked; the export keeps no record of them). A draft voided was never posted, never
 * booked: it is not read. An invoice posted and voided before any run read it is sent a reversal
 * the API answers with nothing to undo (the export cannot tell it was never booked; the ledger can).
 * A version between the last one booked and the void (an edit, then the void, between two runs) is
 * never booked: only the latest version is read, and the reversal undoes the bookings made.
 *
 * Deleted invoices: a deleted row leaves nothing to read, so the host records the deletion of a
 * posted invoice in `invoice_deletions` (a trigger, in the deleting transaction, at its `now()`),
 * and the page query merges those rows into the same (time, id) order: each is sent the same
 * reversal as a void, `externalId = <invoice id>@<deletion time>` (source.ts, ExportedItem).
 */

const settings = z.object({
  baseUrl: httpUrl('http://localhost:4000/accounting'),
  tokenUrl: httpUrl('http://localhost:4000/oauth/token'),
  scope: z.string().max(200).optional(),
  batchSize: z.number().int().min(1, 'must be at least 1').max(500, 'must be at most 500 (the API limit)'),
});

interface BookingResponse {
  /** `replay`: this version (externalId) was booked before; `id` is that booking. `replaced`: the earlier versions' bookings it undid. */
  booked?: { reference: string; id: string; replay?: boolean; replaced?: string[] }[];
  /** Reversals applied; `replay`: this reversal (externalId) was applied before, nothing undone again. */
  reversed?: { reference: string | null; id: string; externalId: string; reversedBookings: string[]; replay?: boolean }[];
  rejected?: { index: number; reference?: string; errors: { field: string; message: string }[] }[];
}

export interface Rejection {
  reference: string;
  field: string;
  reason: string;
  stage: 'mapping' | 'api';
}

/** The run's counts up to a checkpoint. */
interface ExportTally {
  /** Invoices read and handled: booked, or rejected by the mapping or the API. */
  done: number;
  /** Entries the API answered as booked, replays included. */
  booked: number;
  /** Of `booked`, the versions the API had booked before (`replay`), not booked again. */
  alreadyBooked: number;
  /** Reversals of voided and deleted invoices the API acknowledged, replays included (absent before voids were exported). */
  reversals: number;
  /** Of `reversals`, the ones the API had applied before (`replay`), not applied again. */
  alreadyReversed: number;
  /** Bookings of earlier versions of edited invoices the API undid when it booked the new one (absent before replacements were sent). */
  replaced?: number;
  /** Of `reversals`, the ones of invoices deleted in the host (absent before deletions were exported). */
  deleted?: number;
  batches: number;
  rejectedCount: number;
}

const NO_TALLY: ExportTally = {
  done: 0,
  booked: 0,
  alreadyBooked: 0,
  reversals: 0,
  alreadyReversed: 0,
  replaced: 0,
  deleted: 0,
  batches: 0,
  rejectedCount: 0,
};

/**
 * What the export checkpoints after each booked batch: the position and the run's tally up to it,
 * so that an attempt resuming from it reports the whole run (every attempt), not only its own
 * work. The tally belongs to the run that wrote it, yet the run's last checkpoint becomes the
 * integration's cursor when the run ends: in a value read from the committed cursor (a new run)
 * the tally is the previous run's and is ignored. The tally is read only from
 * `ctx.run.resumedFrom`, and the position is copied out before it reaches the invoice queries.
 * Absent in checkpoints and cursors written before it was added (counted as zero).
 */
interface ExportCheckpoint extends ExportWatermark {
  tally?: ExportTally;
  rejectedSince?: RejectedSince;
}

/**
 * Where the earliest invoice refused under a mapping (by the mapping, or by the API) was read: the
 * position its batch was read after (null: the beginning) and that mapping's ctx.mappingVersion.
 * Carried from checkpoint to checkpoint and run to run until a run reads again from it under
 * another mapping (which records its own refusals, if any). Absent: nothing is waiting for a fix.
 */
interface RejectedSince {
  after: ExportWatermark | null;
  mapping: string;
}

/**
 * A posted invoice as it is now (booked through the mapping). Anything else read is reversed: a
 * void, a deletion, or an invoice taken back from posted to another status (posted_at kept).
 */
function isPosted(item: ExportedItem): item is Extract<ExportedItem, { record: InvoiceRecord }> {
  return !item.deleted && item.record.status === 'posted';
}

/** Whether position `a` comes before `b` in the export's (updated_at, id) order. */
function isBefore(a: ExportWatermark, b: ExportWatermark): boolean {
  // Both as the page query writes them: fixed-width UTC timestamps with microseconds, lower-case uuids.
  return a.updatedAt < b.updatedAt || (a.updatedAt === b.updatedAt && a.id < b.id);
}

const MAX_LISTED_REJECTIONS = 200;
const JSON_CONTENT = { 'content-type': 'application/json' };

async function readRejection(response: Response, snippet: string): Promise<BookingResponse> {
  try {
    return (await response.clone().json()) as BookingResponse;
  } catch {
    try {
      return JSON.parse(snippet) as BookingResponse;
    } catch {
      throw new PermanentError(`The accounting API refused a batch with 422 and an unreadable body: ${snippet.slice(0, 200)}`);
    }
  }
}

/**
 * Derived from the batch's content (externalIds included), hashed from the request body as it is
 * sent (serialised once per batch): the per-request retry of the same POST is a replay.
 */
export function batchIdempotencyKey(body: string): string {
  // One-shot hash: the same digest as createHash().update().digest(), without a Hash object per batch.
  return `ae-${hash('sha256', body, 'hex').slice(0, 40)}`;
}

export const accountingExport = defineIntegration({
  name: 'accounting-export',
  description: 'Nightly export of posted invoices as journal entries to the accounting system (OAuth2), voided ones as reversals',
  settings,
  secrets: ['clientId', 'clientSecret'],
  breakerKey: 'accounting-api',
  oauth2: (s, secrets) => ({
    tokenUrl: s.tokenUrl,
    clientId: secrets.clientId ?? '',
    clientSecret: secrets.clientSecret ?? '',
    scope: s.scope,
  }),
  mapping: { sample: invoiceSamples, defaults: defaultJournalMapping },
  defaults: {
    schedule: '0 2 * * *',
    timezone: 'UTC',
    retry: { delays: ['30s', '2m', '5m'] },
    breaker: { failures: 3, cooldown: '1m' },
    settings: {
      baseUrl: `${process.env.SANDBOX_URL ?? 'http://localhost:4000'}/accounting`,
      tokenUrl: `${process.env.SANDBOX_URL ?? 'http://localhost:4000'}/oauth/token`,
      scope: 'journal:write',
      batchSize: 100,
    },
  },
  async execute(ctx) {
    if (!ctx.map) throw new PermanentError('accounting-export needs a field mapping: open Mapping in the console and save one');
    // This run's last checkpoint when a retried attempt resumes, else the committed cursor.
    const saved = await ctx.cursor.get<ExportCheckpoint>();
    let start: ExportWatermark | undefined = saved ? { updatedAt: saved.updatedAt, id: saved.id } : undefined;
    // Invoices refused under another mapping than this attempt's are read again: the fix may make them bookable.
    const mappingVersion = ctx.mappingVersion ?? '';
    let rejectedSince = saved?.rejectedSince;
    if (rejectedSince && rejectedSince.mapping !== mappingVersion) {
      const from = rejectedSince.after ?? undefined;
      if (start && (!from || isBefore(from, start))) start = from;
      ctx.log.info(
        `the field mapping changed since invoices were refused: reading again from ${from ? from.updatedAt : 'the beginning'} (invoices booked since are not booked again)`,
      );
      rejectedSince = undefined;
    }
    // What earlier attempts of this run did; a new run starts from zero whatever the cursor holds.
    const earlier: ExportTally = {
      ...NO_TALLY,
      ...(ctx.run.resumedFrom ? (ctx.run.resumedFrom.value as ExportCheckpoint | null)?.tally : undefined),
    };
    // Invoices changed before the run was requested and below every transaction still open.
    const { before } = await ctx.captureBound();
    const read = (after: ExportWatermark | undefined) => readInvoicesAfter(ctx.db, { after, limit: ctx.settings.batchSize, before });
    // The count (for progress) and the first page are read side by side.
    const first = read(start);
    first.catch(() => {});
    const remaining = await countInvoicesAfter(ctx.db, { after: start, before });
    // Progress covers the whole run: what earlier attempts handled, then the invoices left.
    const total = earlier.done + remaining;
    ctx.log.info(
      `exporting ${remaining} invoices changed since ${start ? start.updatedAt : 'the beginning'}${ctx.run.resumedFrom ? " (resuming from this run's checkpoint)" : ''}, before ${before}`,
      { batchSize: ctx.settings.batchSize },
    );
    ctx.progress(earlier.done, total);

    // The counts are the run's; the rejections are listed for this attempt only: a list is not
    // carried in the checkpoint, written after every batch and limited to 64 KB.
    const rejections: Rejection[] = [];
    let { rejectedCount, booked, alreadyBooked, reversals, alreadyReversed, batches, done } = earlier;
    let replaced = earlier.replaced ?? 0;
    let deleted = earlier.deleted ?? 0;
    let wouldDelete = 0;
    let wouldPost = 0;
    let wouldReverse = 0;
    let position = start;
    const checkpointAt = (at: ExportWatermark): ExportCheckpoint => ({
      ...at,
      tally: { done, booked, alreadyBooked, reversals, alreadyReversed, replaced, deleted, batches, rejectedCount },
      ...(rejectedSince ? { rejectedSince } : {}),
    });
    const reject = (r: Rejection) => {
      // `position` is still where the refused invoice's batch was read after.
      rejectedSince ??= { after: position ?? null, mapping: mappingVersion };
      rejectedCount++;
      if (rejections.length < MAX_LISTED_REJECTIONS) rejections.push(r);
    };

    let page = await first;
    // The last booked batch's checkpoint, written by the next batch's request (its breaker read).
    let checkpointed: Promise<void> = Promise.resolve();
    while (page.length > 0) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // The next page is read while this batch is mapped and posted (reading books nothing; the
      // bound is fixed for the attempt). Its failure surfaces when awaited below, not before.
      const next = read(page[page.length - 1].position);
      next.catch(() => {});
      // Posted invoices go through the field mapping; voided and deleted ones become reversals (./reversal.ts).
      const postedInvoices = page.filter(isPosted);
      const voided = page.filter((p) => !isPosted(p));
      const mapped: Pick<MapResult, 'mapped' | 'rejected'> =
        postedInvoices.length > 0 ? await ctx.map(postedInvoices.map((p) => p.record)) : { mapped: [], rejected: [] };
      for (const r of mapped.rejected) reject({ reference: r.key, field: r.field, reason: r.reason, stage: 'mapping' });
      // Entries in the page's (time, id) order: a deletion read before a re-inserted invoice's
      // version is applied before it (appended after, it undid the booking that replaced it).
      const ordered: { at: number; entry: Record<string, unknown>; label: string }[] = [];
      const pageIndex = new Map(page.map((p, i) => [p, i]));
      for (const m of mapped.mapped) {
        const invoice = postedInvoices[m.index];
        const entry: Record<string, unknown> = {
          ...m.value,
          externalId: invoiceExternalId(invoice.record.id, invoice.version),
          // Booked, it undoes the open booking of the invoice's version before (an edit after posting).
          replaces: invoice.record.id,
        };
        // How each entry is named in a refusal: the mapped reference, or the invoice's number.
        ordered.push({ at: pageIndex.get(invoice)!, entry, label: String(entry.reference ?? invoice.record.number) });
      }
      for (const v of voided) {
        ordered.push({
          at: pageIndex.get(v)!,
          entry: { ...journalReversal(v.record, v.position, v.version) },
          label: `${v.record.number} (${v.record.status})`,
        });
      }
      ordered.sort((a, b) => a.at - b.at);
      const entries = ordered.map((o) => o.entry);
      const labels = ordered.map((o) => o.label);
      const posting = entries.length > 0;
      if (posting) {
        batches++;
        const json = JSON.stringify({ entries });
        const key = batchIdempotencyKey(json);
        let body: BookingResponse;
        try {
          const res = await ctx.http.post(`${ctx.settings.baseUrl}/v1/journal-entries`, {
            body: json,
            headers: JSON_CONTENT,
            idempotencyKey: key,
          });
          body = ctx.dryRun ? {} : ((await res.json()) as BookingResponse);
        } catch (error) {
          // 422: the API refused every entry of the batch; report them and go on with the next batch.
          if (!isHttpError(error) || error.status !== 422) throw error;
          body = await readRejection(error.response, error.bodySnippet);
        }
        if (ctx.dryRun) wouldPost += entries.length;
        if (ctx.dryRun) wouldReverse += voided.length;
        if (ctx.dryRun) wouldDelete += voided.filter((v) => v.deleted).length;
        booked += body.booked?.length ?? 0;
        for (const b of body.booked ?? []) {
          if (b.replay) alreadyBooked++;
          replaced += b.replaced?.length ?? 0;
        }
        reversals += body.reversed?.length ?? 0;
        const deletions = new Set(voided.filter((v) => v.deleted).map((v) => invoiceExternalId(v.record.id, v.version)));
        for (const r of body.reversed ?? []) {
          if (r.replay) alreadyReversed++;
          if (deletions.has(r.externalId)) deleted++;
        }
        for (const r of body.rejected ?? []) {
          const reference = r.reference ?? labels[r.index] ?? `#${r.index}`;
          for (const e of r.errors.slice(0, 3)) reject({ reference, field: e.field, reason: e.message, stage: 'api' });
        }
        const reversalsSent = !voided.length
          ? ''
          : ctx.dryRun
            ? `, would reverse ${voided.length}`
            : `, reversed ${body.reversed?.length ?? 0}`;
        ctx.log.info(
          `batch ${batches}: ${ctx.dryRun ? `would post ${entries.length}` : `booked ${body.booked?.length ?? 0}`}${reversalsSent}, rejected ${body.rejected?.length ?? 0}`,
          { idempotencyKey: key },
        );
      }
      // The checkpoint moves past this batch only once it is booked, durably, so a retried attempt
      // resumes after it; rejected records are listed in the result and picked up again when the
      // invoice changes. It rides on the next batch's request (written by the same statement as
      // that request's breaker read, before it leaves): the previous batch's checkpoint is durable
      // once this batch's request went out. A batch with nothing to post writes its own at once.
      if (posting) await checkpointed;
      position = page[page.length - 1].position;
      done += page.length;
      checkpointed = ctx.cursor.checkpoint(checkpointAt(position), { withNextRequest: posting });
      checkpointed.catch(() => {});
      page = await next;
      ctx.progress(done, Math.max(total, done));
    }
    // The last batch has no next request: its checkpoint is written now.
    if (position && position !== start) await ctx.cursor.checkpoint(checkpointAt(position));
    await checkpointed;

    const notes = [
      earlier.booked ? `${earlier.booked} of them in earlier attempts of this run` : '',
      alreadyBooked ? `${alreadyBooked} of them booked before, not again` : '',
      replaced === 1
        ? '1 earlier booking of an edited invoice undone'
        : replaced
          ? `${replaced} earlier bookings of edited invoices undone`
          : '',
    ].filter(Boolean);
    const reversalNotes = [
      deleted ? `${deleted} of them deleted in the host` : '',
      earlier.reversals ? `${earlier.reversals} of them in earlier attempts of this run` : '',
      alreadyReversed ? `${alreadyReversed} of them reversed before, not again` : '',
    ].filter(Boolean);
    const reversalNote = reversals
      ? `; reversed ${reversals} ${deleted ? 'voided or deleted' : 'voided'} invoices${reversalNotes.length ? ` (${reversalNotes.join('; ')})` : ''}`
      : '';
    const summary = ctx.dryRun
      ? `Would post ${wouldPost} journal entries${wouldReverse ? ` (${wouldReverse} of them reversals of ${wouldDelete ? `voided or deleted invoices, ${wouldDelete} deleted` : 'voided invoices'})` : ''} in ${batches} batches to ${ctx.settings.baseUrl}; ${rejectedCount} rejected by the mapping`
      : `Booked ${booked} journal entries in ${batches} batches${notes.length ? ` (${notes.join('; ')})` : ''}${reversalNote}; ${rejectedCount} rejected`;
    ctx.log.info(summary);
    return {
      // Entries the accounting API acknowledged: bookings and reversals.
      processed: ctx.dryRun ? wouldPost : booked + reversals,
      summary,
      batches,
      alreadyBooked,
      reversals,
      alreadyReversed,
      // Bookings of earlier versions of edited invoices undone by the new versions' bookings.
      replaced,
      // Of `reversals`, the ones of invoices deleted in the host.
      deleted,
      rejectedCount,
      rejected: rejections,
      watermark: position ?? null,
      resumedFrom: ctx.run.resumedFrom ? (start ?? null) : null,
      // The share of the counts above done by earlier attempts of this run (null: not resumed).
      earlierAttempts: ctx.run.resumedFrom ? earlier : null,
    };
  },
});
