import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineIntegration } from '../../platform/contract';
import { isHttpError, PermanentError } from '../../platform/errors';
import type { MapResult } from '../../platform/mapping';
import { defaultJournalMapping, invoiceSamples } from './mapping';
import { countInvoicesAfter, readInvoicesAfter, type ExportWatermark } from './source';

/**
 * Nightly export of posted invoices as journal entries to the accounting system. Everything that
 * is not about invoices and journal entries (OAuth2, retries, the breaker, dry-run, audit,
 * alerting, scheduling, the field mapping) is the platform's.
 */

const settings = z.object({
  baseUrl: z.string().url('must be the accounting API URL, e.g. http://localhost:4000/accounting'),
  tokenUrl: z.string().url('must be the OAuth2 token endpoint URL'),
  scope: z.string().max(200).optional(),
  batchSize: z.number().int().min(1, 'must be at least 1').max(500, 'must be at most 500 (the API limit)'),
});

interface BookingResponse {
  booked?: { reference: string; id: string }[];
  rejected?: { index: number; reference?: string; errors: { field: string; message: string }[] }[];
}

export interface Rejection {
  reference: string;
  field: string;
  reason: string;
  stage: 'mapping' | 'api';
}

const MAX_LISTED_REJECTIONS = 200;

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

/** Derived from the batch's content: a retried attempt rebuilds the same batch and the API books it once. */
export function batchIdempotencyKey(entries: unknown[]): string {
  return `ae-${createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 40)}`;
}

export const accountingExport = defineIntegration({
  name: 'accounting-export',
  description: 'Nightly export of posted invoices as journal entries to the accounting system (OAuth2)',
  settings,
  secrets: ['clientId', 'clientSecret'],
  breakerKey: 'accounting-api',
  oauth2: (s, secrets) => ({ tokenUrl: s.tokenUrl, clientId: secrets.clientId ?? '', clientSecret: secrets.clientSecret ?? '', scope: s.scope }),
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
    const start = await ctx.cursor.get<ExportWatermark>();
    // Every attempt of this run exports the same invoices (those changed up to the run's request),
    // so a retried attempt rebuilds identical batches and keys; later changes go to the next run.
    const until = ctx.run.createdAt;
    const total = await countInvoicesAfter(ctx.db, { after: start, until });
    ctx.log.info(`exporting ${total} invoices changed since ${start ? start.updatedAt : 'the beginning'}`, { batchSize: ctx.settings.batchSize });
    ctx.progress(0, total);

    const rejections: Rejection[] = [];
    let rejectedCount = 0;
    let booked = 0;
    let wouldPost = 0;
    let batches = 0;
    let done = 0;
    let position = start;
    const reject = (r: Rejection) => {
      rejectedCount++;
      if (rejections.length < MAX_LISTED_REJECTIONS) rejections.push(r);
    };

    for (;;) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const page = await readInvoicesAfter(ctx.db, { after: position, limit: ctx.settings.batchSize, until });
      if (page.length === 0) break;
      const mapped = (await ctx.map(page.map((p) => p.record))) as MapResult;
      for (const r of mapped.rejected) reject({ reference: r.key, field: r.field, reason: r.reason, stage: 'mapping' });
      const entries = mapped.mapped.map((m) => m.value);
      if (entries.length > 0) {
        batches++;
        const key = batchIdempotencyKey(entries);
        let body: BookingResponse;
        try {
          const res = await ctx.http.post(`${ctx.settings.baseUrl}/v1/journal-entries`, { json: { entries }, idempotencyKey: key });
          body = ctx.dryRun ? {} : ((await res.json()) as BookingResponse);
        } catch (error) {
          // 422: the API refused every entry of the batch; report them and go on with the next batch.
          if (!isHttpError(error) || error.status !== 422) throw error;
          body = await readRejection(error.response, error.bodySnippet);
        }
        if (ctx.dryRun) wouldPost += entries.length;
        booked += body.booked?.length ?? 0;
        for (const r of body.rejected ?? []) {
          const reference = r.reference ?? String((entries[r.index] as { reference?: string })?.reference ?? `#${r.index}`);
          for (const e of r.errors.slice(0, 3)) reject({ reference, field: e.field, reason: e.message, stage: 'api' });
        }
        ctx.log.info(`batch ${batches}: ${ctx.dryRun ? `would post ${entries.length}` : `booked ${body.booked?.length ?? 0}`}, rejected ${body.rejected?.length ?? 0}`, { idempotencyKey: key });
      }
      // The watermark moves past this batch only once it is booked; rejected records are listed in
      // the result and picked up again when the invoice changes.
      position = page[page.length - 1].position;
      ctx.cursor.set(position);
      done += page.length;
      ctx.progress(done, Math.max(total, done));
    }

    const summary = ctx.dryRun
      ? `Would post ${wouldPost} journal entries in ${batches} batches to ${ctx.settings.baseUrl}; ${rejectedCount} rejected by the mapping`
      : `Booked ${booked} journal entries in ${batches} batches; ${rejectedCount} rejected`;
    ctx.log.info(summary);
    return { processed: ctx.dryRun ? wouldPost : booked, summary, batches, rejectedCount, rejected: rejections, watermark: position ?? null };
  },
});
