import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integrations } from '../lib/integrations';
import { defineIntegration, type IntegrationDefinition } from '../lib/platform/contract';
import { keyringFrom } from '../lib/platform/governance/crypto';
import { createSecretsProvider } from '../lib/platform/governance/secrets';
import { eventCounts } from '../lib/platform/intake/events-read';
import { listInventory } from '../lib/platform/read-models/inventory';
import { buildRegistry, syncRegistry, type RegistrationBackdate } from '../lib/platform/registry';
import { freshDatabase, type TestDatabase } from '../test/db';
import { countInvoices, generateHostData } from './host-data';
import { DEMO_INTEGRATIONS, seedDemo } from './seed';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

/** An integration a developer added before the first start: the demo writes no history for it. */
const ownIntegration = defineIntegration({
  name: 'partner-orders',
  description: 'Added by a developer before the first start',
  settings: z.object({}),
  async execute() {
    return {};
  },
}) as IntegrationDefinition;

const seededFrom = new Date();
const options = {
  syncIntegrations: (db: TestDatabase['db'], backdate: RegistrationBackdate) =>
    syncRegistry(db, { registry: buildRegistry([...integrations, ownIntegration]), backdate }).then(() => {}),
  sandboxUrl: 'http://localhost:4000',
  appUrl: 'http://localhost:3000',
  keyring: keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'test' }),
  credentials: {
    'accounting-export': { clientId: 'accounting-export', clientSecret: 'dev-accounting-secret' },
    'crm-sync': { apiKey: 'dev-crm-key' },
  },
};

describe('demo seed', () => {
  it('seeds once and skips on the next start', async () => {
    expect(await seedDemo(t.db, options)).toBe(true);
    const after = await countInvoices(t.db);
    expect(after).toBe(300);
    expect(await seedDemo(t.db, options)).toBe(false);
    expect(await countInvoices(t.db)).toBe(after);
  });

  it('leaves the console worth looking at: export history, failed runs to retry, a delivered alert, config history', async () => {
    const inventory = Object.fromEntries((await listInventory(t.db)).map((r) => [r.name, r]));
    expect(inventory['accounting-export'].state).toBe('healthy');
    expect(inventory['crm-sync'].state).toBe('failing');
    const [counts] = await t.db.execute<{ nightly: number; failed: number; delivered: number; people: number }>(sql`
      select (select count(*) from runs where integration = 'accounting-export' and status = 'succeeded')::int as nightly,
             (select count(*) from runs where integration = 'crm-sync' and status = 'failed')::int as failed,
             (select count(*) from alert_deliveries where status = 'delivered')::int as delivered,
             (select count(distinct changed_by) from audit_log where kind = 'config')::int as people`);
    expect(counts).toEqual({ nightly: 14, failed: 3, delivered: 2, people: 3 });
    // payment-events' Events tab: received, a duplicate, stale and failed events, refused deliveries,
    // and invoices that agree with the applied events.
    const events = await eventCounts(t.db, 'payment-events');
    expect(events).toMatchObject({ received: 10, duplicates: 2, rejected: 3, byStatus: { pending: 0, processed: 8, stale: 1, failed: 1 } });
    // Its refused event opened the events_failed incident alerting opens, with its alert delivered
    // like the CRM's: payment-events reads failing, says why, and links to the failed event.
    expect(inventory['payment-events']).toMatchObject({
      state: 'failing',
      failingReasons: [
        {
          kind: 'events_failed',
          text: '1 failed webhook event',
          incidentOpen: true,
          href: '/integrations/payment-events/events?status=failed',
          action: 'Review failed events',
        },
      ],
    });
    const refusals = await t.db.$client<{ kind: string; failed_events: number; last_error: string; event_run: boolean; alert: string }[]>`
      select i.kind, i.failed_events, i.last_error, w.run_id = i.run_id as event_run,
             (select a.status || ' ' || a.title from alerts a where a.incident_id = i.id) as alert
        from incidents i join webhook_events w on w.integration = i.integration and w.status = 'failed'
       where i.integration = 'payment-events' and i.closed_at is null and w.refusal_unannounced_at is null`;
    expect(refusals).toEqual([
      {
        kind: 'events_failed',
        failed_events: 1,
        last_error:
          'event evt_demo0010 (payment.succeeded): refused by the handler: event evt_demo0010: invoice INV-404 does not exist on the host',
        event_run: true,
        alert: 'delivered payment-events: event evt_demo0010 (payment.succeeded) failed',
      },
    ]);
    // The CRM's alert says what a worker's would: the platform's title and text, naming the first
    // failed run, its correlation id, the last error and what happens next.
    const [crm] = await t.db.$client<{ title: string; body: { text: string; correlationId: string }; run: string; correlation: string }[]>`
      select a.title, a.body, r.id as run, r.correlation_id as correlation
        from alerts a join incidents i on i.id = a.incident_id join runs r on r.id = i.run_id
       where i.integration = 'crm-sync'`;
    expect(crm.title).toBe('crm-sync: run failed (retries exhausted)');
    expect(crm.body.correlationId).toBe(crm.correlation);
    for (const line of [
      `Integration 'crm-sync' failed: run ${crm.run} gave up after 4 attempts (retries exhausted).`,
      `Correlation id: ${crm.correlation}`,
      `Run: ${options.appUrl}/runs/${crm.run}`,
      'Last error: HttpError: GET ',
      'Further failures are counted on this incident',
    ]) {
      expect(crm.body.text).toContain(line);
    }
    const [paid] = await t.db.execute<{ paid: number; refunded: number; paid_out: number }>(sql`
      select count(*) filter (where payment_status = 'paid')::int as paid, count(*) filter (where payment_status = 'refunded')::int as refunded,
             count(*) filter (where payout_id is not null)::int as paid_out from invoices`);
    expect(paid).toEqual({ paid: 5, refunded: 1, paid_out: 3 });
    // The history is consistent with the integrations' creation: nothing happened to one before it existed.
    const [early] = await t.db.execute<{ n: number }>(sql`
      select (select count(*) from audit_log a join integrations i on i.name = a.integration where a.changed_at < i.created_at)
           + (select count(*) from runs r join integrations i on i.name = r.integration where r.created_at < i.created_at) as n`);
    expect(Number(early.n)).toBe(0);
    // Registered before their history, not at seed time: History's "Registered" row is its oldest.
    const [late] = await t.db.execute<{ n: number }>(sql`
      select count(*)::int as n from audit_log r
       where r.kind = 'action' and r.field_name = 'register'
         and exists (select 1 from audit_log a where a.integration = r.integration and a.id <> r.id and a.changed_at < r.changed_at)`);
    expect(late.n).toBe(0);
    const secrets = await createSecretsProvider(t.db, options.keyring).read('accounting-export', ['clientId', 'clientSecret']);
    expect(secrets).toEqual({ clientId: 'accounting-export', clientSecret: 'dev-accounting-secret' });
    const leaked = await t.db.$client<
      { n: number }[]
    >`select count(*)::int as n from audit_log where old_value::text like '%dev-accounting-secret%' or new_value::text like '%dev-accounting-secret%'`;
    expect(leaked[0].n).toBe(0);
  });

  it('backdates the registration of the demo integrations only, not one a developer added before the first start', async () => {
    const rows = await t.db.$client<{ name: string; created_at: Date; registered_at: Date }[]>`
      select i.name, i.created_at,
             (select changed_at from audit_log a where a.integration = i.name and a.kind = 'action' and a.field_name = 'register') as registered_at
      from integrations i order by i.name`;
    const days = (d: Date) => (seededFrom.getTime() - new Date(d).getTime()) / 86_400_000;
    for (const r of rows) {
      if ((DEMO_INTEGRATIONS as readonly string[]).includes(r.name)) {
        expect(days(r.created_at), r.name).toBeGreaterThan(15);
        expect(days(r.registered_at), r.name).toBeGreaterThan(15);
      } else {
        expect(new Date(r.created_at).getTime(), r.name).toBeGreaterThanOrEqual(seededFrom.getTime() - 1000);
        expect(new Date(r.registered_at).getTime(), r.name).toBeGreaterThanOrEqual(seededFrom.getTime() - 1000);
      }
    }
    expect(rows.map((r) => r.name)).toEqual(['accounting-export', 'crm-sync', 'partner-orders', 'payment-events']);
  });

  it('tells one story: versions, "last changed by" and secret times agree with the demo history', async () => {
    const rows = await t.db.$client<
      { name: string; version: number; updated_by: string; updated_at: Date; last_by: string; last_at: Date; changes: number }[]
    >`
      select i.name, i.version, i.updated_by, i.updated_at,
             (select changed_by from audit_log a where a.integration = i.name and a.kind = 'config' order by changed_at desc limit 1) as last_by,
             (select max(changed_at) from audit_log a where a.integration = i.name and a.kind = 'config') as last_at,
             (select count(distinct correlation_id)::int from audit_log a where a.integration = i.name and a.kind = 'config') as changes
      from integrations i order by i.name`;
    for (const r of rows) {
      expect(r.version, r.name).toBe(1 + r.changes);
      // An integration the demo history never touched (payment-events) is as the registry made it.
      if (r.changes === 0) {
        expect(r.updated_by, r.name).toBe('system');
        continue;
      }
      expect(r.updated_by, r.name).toBe(r.last_by);
      expect(new Date(r.updated_at).getTime(), r.name).toBe(new Date(r.last_at).getTime());
    }
    const secrets = await t.db.$client<{ integration: string; name: string; set_at: Date; audited_at: Date }[]>`
      select s.integration, s.name, s.updated_at as set_at,
             (select max(changed_at) from audit_log a where a.integration = s.integration and a.field_name = 'secret.' || s.name) as audited_at
      from integration_secrets s`;
    expect(secrets.length).toBeGreaterThan(0);
    for (const s of secrets) expect(new Date(s.set_at).getTime(), `${s.integration}.${s.name}`).toBe(new Date(s.audited_at).getTime());
  });

  it('generates invoices whose gross equals net plus tax, with lines', async () => {
    const made = await generateHostData(t.db, { customers: 3, invoices: 50, seed: 1, numberOffset: 10_000 });
    expect(made.lines).toBeGreaterThanOrEqual(50);
    const rows = await t.db.$client<{ ok: boolean }[]>`
      select bool_and(gross_total = net_total + tax_total) as ok from invoices`;
    expect(rows[0].ok).toBe(true);
  });
});
