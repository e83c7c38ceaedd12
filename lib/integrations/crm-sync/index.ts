import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { customers } from '../../../db/schema';
import { defineIntegration } from '../../platform/contract';

/**
 * Inbound sync of CRM contacts onto the host platform's customers (upsert by external id), every
 * 15 minutes from a durable `updated_since` cursor. A dry-run reads the same pages and reports the
 * same counts; its database writes are rolled back by the platform.
 */

const settings = z.object({
  baseUrl: z.string().url('must be the CRM API URL, e.g. http://localhost:4000/crm'),
  pageSize: z.number().int().min(1).max(200, 'must be at most 200 (the API limit)'),
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
    settings: { baseUrl: `${process.env.SANDBOX_URL ?? 'http://localhost:4000'}/crm`, pageSize: 100 },
  },
  async execute(ctx) {
    const cursor = await ctx.cursor.get<SyncCursor>();
    const counts = { created: 0, updated: 0, unchanged: 0 };
    let newest = cursor?.updatedSince;
    let pageToken: string | null = null;
    let pages = 0;
    const headers: Record<string, string> = ctx.secrets.apiKey ? { 'x-api-key': ctx.secrets.apiKey } : {};
    ctx.log.info(`pulling contacts changed since ${cursor?.updatedSince ?? 'the beginning'}`);
    do {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const page: ContactPage = await ctx.http.getJson<ContactPage>(`${ctx.settings.baseUrl}/v1/contacts`, {
        headers,
        query: { updated_since: cursor?.updatedSince, cursor: pageToken, limit: ctx.settings.pageSize },
      });
      pages++;
      await ctx.tx(async (tx) => {
        for (const contact of page.data) {
          const [existing] = await tx.select().from(customers).where(eq(customers.externalId, contact.id));
          const values = { name: contact.name, email: contact.email, country: contact.country, currency: contact.currency };
          if (!existing) {
            await tx.insert(customers).values({ ...values, externalId: contact.id });
            counts.created++;
          } else if (existing.name !== values.name || existing.email !== values.email || existing.country !== values.country || existing.currency !== values.currency) {
            await tx.update(customers).set({ ...values, updatedAt: sql`now()` }).where(eq(customers.id, existing.id));
            counts.updated++;
          } else {
            counts.unchanged++;
          }
          if (!newest || contact.updated_at > newest) newest = contact.updated_at;
        }
      });
      pageToken = page.next_cursor;
      const seen = counts.created + counts.updated + counts.unchanged;
      ctx.progress(seen);
      ctx.log.info(`page ${pages}: ${page.data.length} contacts`, { ...counts });
    } while (pageToken);
    if (newest) ctx.cursor.set({ updatedSince: newest } satisfies SyncCursor);
    const processed = counts.created + counts.updated + counts.unchanged;
    const summary = `${ctx.dryRun ? 'Would create' : 'Created'} ${counts.created}, ${ctx.dryRun ? 'would update' : 'updated'} ${counts.updated}, ${counts.unchanged} unchanged`;
    return { processed, summary, ...counts, pages };
  },
});
