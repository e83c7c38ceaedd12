import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { integrations } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { appendAudit } from '../governance/audit';
import { getBreakerView, listInventory } from './inventory';
import {
  alertsParts,
  auditCheckedAt,
  auditParts,
  fingerprint,
  integrationParts,
  integrationsParts,
  liveFingerprint,
  overviewParts,
} from './live-fingerprint';
import { listRuns, overviewStats } from './run-queries';

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await t.db.insert(integrations).values([
    { name: 'watched', breakerKey: 'watched-erp' },
    { name: 'other', breakerKey: 'other' },
  ]);
});
afterAll(() => t.drop());

const all = async () => ({
  overview: await liveFingerprint(t.db, { view: 'overview' }),
  integrations: await liveFingerprint(t.db, { view: 'integrations' }),
  integration: await liveFingerprint(t.db, { view: 'integration', integration: 'watched' }),
  alerts: await liveFingerprint(t.db, { view: 'alerts' }),
  audit: await liveFingerprint(t.db, { view: 'audit' }),
});

describe('live fingerprints', () => {
  it('are what the pages compute from the data they render, and stay equal while nothing changes', async () => {
    const inventory = await listInventory(t.db);
    const [row] = await listInventory(t.db, { name: 'watched' });
    const now = new Date();
    const rendered = {
      overview: fingerprint(overviewParts(inventory, await overviewStats(t.db, { now }))),
      integrations: fingerprint(integrationsParts(inventory)),
      integration: fingerprint(
        integrationParts(
          row,
          await getBreakerView(t.db, { key: row.breakerKey }),
          (await listRuns(t.db, { integration: 'watched', limit: 20 })).items,
          await auditCheckedAt(t.db),
        ),
      ),
      alerts: fingerprint(await alertsParts(t.db)),
      audit: fingerprint(await auditParts(t.db)),
    };
    expect(await all()).toEqual(rendered);
    expect(await all()).toEqual(rendered);
  });

  it('change with a failed run, an opened breaker and an alert delivery, each on the views that show it', async () => {
    const before = await all();
    await t.db.execute(sql`
      insert into runs (integration, trigger, status, triggered_by, correlation_id, max_attempts, error_message, created_at, finished_at)
      values ('watched', 'schedule', 'failed', 'schedule', 'c', 3, 'ERP answered 503', now(), now())`);
    const afterRun = await all();
    expect(afterRun.overview).not.toBe(before.overview);
    expect(afterRun.integrations).not.toBe(before.integrations);
    expect(afterRun.integration).not.toBe(before.integration);
    expect(afterRun.alerts).toBe(before.alerts);

    await t.db.execute(
      sql`insert into breakers (key, state, consecutive_failures, open_until) values ('watched-erp', 'open', 3, now() + interval '5 minutes')`,
    );
    const afterBreaker = await all();
    expect(afterBreaker.integration).not.toBe(afterRun.integration);
    expect(afterBreaker.integrations).not.toBe(afterRun.integrations);
    // Another integration's page does not move for it.
    const otherBefore = await liveFingerprint(t.db, { view: 'integration', integration: 'other' });
    await t.db.execute(sql`update breakers set consecutive_failures = 4 where key = 'watched-erp'`);
    expect(await liveFingerprint(t.db, { view: 'integration', integration: 'other' })).toBe(otherBefore);

    const [channel] = await t.db.execute<{ id: string }>(
      sql`insert into alert_channels (name, type, config) values ('ops', 'webhook', '{"url":"http://127.0.0.1:9/"}') returning id`,
    );
    const afterChannel = await all();
    expect(afterChannel.alerts).not.toBe(afterBreaker.alerts);
    const [alert] = await t.db.execute<{ id: string }>(sql`
      insert into alerts (event, integration, title, body, status, channel_ids)
      values ('opened', 'watched', 'watched failing', '{}'::jsonb, 'pending', ${JSON.stringify([channel.id])}::jsonb) returning id`);
    const afterAlert = await liveFingerprint(t.db, { view: 'alerts' });
    expect(afterAlert).not.toBe(afterChannel.alerts);
    const ofOther = await liveFingerprint(t.db, { view: 'alerts', integration: 'other' });
    await t.db.execute(sql`
      insert into alert_deliveries (alert_id, channel_id, attempt, status, response_code, final)
      values (${alert.id}, ${channel.id}, 1, 'failed', 503, false)`);
    const afterDelivery = await liveFingerprint(t.db, { view: 'alerts' });
    expect(afterDelivery).not.toBe(afterAlert);
    expect(await liveFingerprint(t.db, { view: 'alerts', integration: 'watched' })).not.toBe(ofOther);
    expect(await liveFingerprint(t.db, { view: 'alerts', integration: 'other' })).toBe(ofOther);
  });

  it('change on the Audit page and an integration page when the full audit check runs, and Audit with a new trail row', async () => {
    const before = await all();
    await t.db.execute(sql`update audit_chain_state set check_requested_at = now(), check_requested_by = 'ada' where id = 1`);
    const requested = await all();
    expect(requested.audit).not.toBe(before.audit);
    expect(requested.integration).toBe(before.integration);
    await t.db.execute(sql`update audit_chain_state set full_checked_at = clock_timestamp(), full_ok = true where id = 1`);
    const checked = await all();
    expect(checked.audit).not.toBe(requested.audit);
    expect(checked.integration).not.toBe(requested.integration);
    expect(checked.overview).toBe(requested.overview);
    await appendAudit(t.db, { actor: 'ada', entries: [{ kind: 'action', fieldName: 'pause', integration: 'watched' }] });
    expect((await all()).audit).not.toBe(checked.audit);
  });

  it('is null for an integration that does not exist', async () => {
    expect(await liveFingerprint(t.db, { view: 'integration', integration: 'nope' })).toBeNull();
  });
});
