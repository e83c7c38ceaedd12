import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runs } from '../../../db/schema';
import { freshDatabase, type TestDatabase } from '../../../test/db';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { buildRegistry, syncRegistry } from '../registry';
import { costlyActionWarnings } from './costly-actions';

const def = (name: string) =>
  defineIntegration({
    name,
    description: name,
    settings: z.object({}),
    async execute() {
      return {};
    },
  }) as IntegrationDefinition;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
  await syncRegistry(t.db, { registry: buildRegistry([def('busy'), def('idle')]) });
});
afterAll(() => t.drop());

async function insertRuns(integration: string, n: number, values: { status: 'failed' | 'running'; daysAgo?: number }) {
  const rows = await t.db
    .insert(runs)
    .values(
      Array.from({ length: n }, () => ({
        integration,
        trigger: 'manual' as const,
        triggeredBy: 'x',
        correlationId: 'c',
        maxAttempts: 2,
        status: values.status,
        createdAt: sql`now() - make_interval(days => ${values.daysAgo ?? 0})`,
      })),
    )
    .returning({ id: runs.id });
  return rows.map((r) => r.id);
}

describe('costly action warnings', () => {
  it('Run now while the last run is still running says so; an idle integration needs no confirmation', async () => {
    const [running] = await insertRuns('busy', 1, { status: 'running' });
    const busy = await costlyActionWarnings(t.db, { integration: 'busy' });
    expect(busy).toMatchObject({ lastRunActive: true, activeRunId: running, activeRunStatus: 'running', bulkOver20: false, oldRuns: 0 });
    expect(busy.messages).toEqual([
      `The last run of busy (${running}) is still running: a new run waits until it ends, then processes the same data again.`,
    ]);
    expect(await costlyActionWarnings(t.db, { integration: 'idle' })).toMatchObject({ lastRunActive: false, messages: [] });
  });

  it('a retry of a run older than 7 days and a bulk action over 20 runs ask for confirmation with the consequence', async () => {
    const [old] = await insertRuns('idle', 1, { status: 'failed', daysAgo: 8 });
    const single = await costlyActionWarnings(t.db, { runIds: [old] });
    expect(single).toMatchObject({ oldRuns: 1, bulkOver20: false, runCount: 1 });
    expect(single.oldestRunAt!.getTime()).toBeLessThan(Date.now() - 7 * 86_400_000);
    expect(single.messages).toEqual([expect.stringMatching(/^This run is older than 7 days: retrying replays it/)]);

    const recent = await insertRuns('idle', 20, { status: 'failed', daysAgo: 1 });
    expect(await costlyActionWarnings(t.db, { runIds: recent })).toMatchObject({ bulkOver20: false, oldRuns: 0, messages: [] });
    const bulk = await costlyActionWarnings(t.db, { runIds: [...recent, old] });
    expect(bulk).toMatchObject({ bulkOver20: true, oldRuns: 1, runCount: 21 });
    expect(bulk.messages[1]).toBe(
      'This retries 21 runs: they start at most 5 per minute per integration (about 5 minutes for one integration), and wait while a breaker is open.',
    );
  });
});
