import { randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { integrations } from '../../../db/schema';
import { runQueries, sleep, startTestPlatform, TEST_WORKER_OPTIONS, type TestPlatform } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { updateIntegrationConfig } from '../governance/config';
import { keyringFrom } from '../governance/crypto';
import { runNow } from '../triggers/triggers';

/**
 * The time limit an admin sets in the config editor is the one the runner applies: read from the
 * integration's row when an attempt starts (the code's defaults.attemptTimeout only fills the row).
 * Before, the runner read the code's value, so an edit could not have changed anything.
 */

const keyring = keyringFrom({ key: randomBytes(32).toString('base64'), keyId: 'k1' });
/** Released by the test: a handler waiting on it ignores ctx.signal meanwhile. */
const gates = new Map<string, PromiseWithResolvers<void>>();
const gate = (key: string) => gates.get(key) ?? gates.set(key, Promise.withResolvers<void>()).get(key)!;
/** Why ctx.signal aborted, by run trigger and attempt ('hang#1'), when it did. */
const aborted = new Map<string, string>();

const defs = [
  defineIntegration({
    name: 'long-export',
    description: 'No time limit in code (1h); its first attempt of a run waits for the test, ignoring ctx.signal',
    settings: z.object({}),
    defaults: { retry: { delays: ['1s'] } },
    async execute(ctx) {
      const key = `${ctx.run.triggeredBy}#${ctx.run.attempt}`;
      ctx.signal.addEventListener('abort', () => aborted.set(key, String((ctx.signal.reason as Error).message)));
      gate(`${key} started`).resolve();
      if (ctx.run.attempt === 1) await gate(key).promise; // ignores ctx.signal
      return { summary: `returned on attempt ${ctx.run.attempt}` };
    },
  }),
] as IntegrationDefinition[];

let p: TestPlatform;
beforeAll(async () => {
  // pg-boss's expiry far away: only the platform's time limit can end the attempts.
  p = await startTestPlatform(defs, {
    workerId: 'limit-config-worker',
    options: { ...TEST_WORKER_OPTIONS, attemptTimeoutGraceMs: 500, queue: { ...TEST_WORKER_OPTIONS.queue, expireInSeconds: 600 } },
  });
});
afterAll(async () => {
  for (const g of gates.values()) g.resolve();
  await p?.stop();
});

async function setLimit(value: string): Promise<void> {
  const [row] = await p.t.db.select().from(integrations).where(eq(integrations.name, 'long-export'));
  const result = await updateIntegrationConfig(p.t.db, {
    integration: 'long-export',
    expectedVersion: row.version,
    patch: { attemptTimeout: value },
    actor: 'ada@example.com',
    definition: defs[0],
    keyring,
  });
  expect(result).toMatchObject({ ok: true, changed: ['attemptTimeout'] });
}

const { attemptRows, finished } = runQueries(() => p.t.db);

describe("an integration's edited time limit", () => {
  it('is filled from the code when the integration is registered: 1h when the code sets none', async () => {
    const [row] = await p.t.db.select().from(integrations).where(eq(integrations.name, 'long-export'));
    expect(row.attemptTimeout).toBe('1h');
  });

  it('ends the next attempt at the new limit, which its error names', async () => {
    await setLimit('1s');
    const { runId } = await runNow(p.t.db, p.boss, { integration: 'long-export', triggeredBy: 'hang' });
    // With the code's 1h, the first attempt would wait for its gate (released only at the end) for an hour.
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 2, result: { summary: 'returned on attempt 2' } });
    const rows = await attemptRows(runId);
    expect(rows.map((a) => [a.number, a.outcome, a.errorClass])).toEqual([
      [1, 'failed', 'AttemptTimeoutError'],
      [2, 'succeeded', null],
    ]);
    expect(rows[0].errorMessage).toMatch(/^attempt 1 exceeded its time limit of 1s \(the integration's attempt time limit\)/);
    expect(aborted.get('hang#1')).toMatch(/^attempt 1 exceeded its time limit of 1s /);
  }, 60_000);

  it('does not change the limit of an attempt already running: it keeps the one it started with', async () => {
    await setLimit('1h');
    const { runId } = await runNow(p.t.db, p.boss, { integration: 'long-export', triggeredBy: 'edit-during' });
    await gate('edit-during#1 started').promise;
    // Lowered while the attempt runs: applies from the next attempt, not to this one.
    await setLimit('1s');
    // Well past the new limit and its grace (1s + 500ms): a limit read again would have aborted by now.
    await sleep(3_000);
    expect(aborted.get('edit-during#1')).toBeUndefined();
    expect((await attemptRows(runId)).map((a) => a.outcome)).toEqual(['running']);
    gate('edit-during#1').resolve();
    expect(await finished(runId)).toMatchObject({ status: 'succeeded', attemptCount: 1, result: { summary: 'returned on attempt 1' } });
    // (The signal is aborted as the attempt closes; never by a time limit.)
    expect(aborted.get('edit-during#1') ?? '').not.toMatch(/time limit/);
  }, 60_000);
});
