import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { incidents, runs, webhookEvents } from '../../../db/schema';
import { deliverSigned, startIntakeTest, type IntakeTest } from '../../../test/fixtures/intake-test';
import { waitFor } from '../../../test/fixtures/platform';
import { defineIntegration, type IntegrationDefinition } from '../contract';
import { PermanentError } from '../errors';

/**
 * An event the handler refuses with a message PostgreSQL cannot store as it is: a NUL, or half of
 * a character (an emoji cut in two by a length limit), from an external system's error body. The
 * event's outcome (text) refused the NUL, failing the statement that marks the event failed: the
 * run was taken for a lost worker and re-queued until "too many interruptions", the event left
 * pending. Both are stored as U+FFFD, as for a run's error (nul-error.test.ts, lone-surrogate.test.ts).
 */

const HALF = 'Café 😀'.slice(0, -1);

const defs = [
  defineIntegration({
    name: 'refuses-oddly',
    description: 'Refuses every event with a message holding a NUL and half a character',
    settings: z.object({}),
    defaults: { retry: { delays: ['100ms'] } },
    events: {
      scheme: 'standard-webhooks',
      typeFrom: (d) => (d.body as { type?: string }).type,
      async handle() {
        throw new PermanentError(`customer 'Broken\u0000Import' unknown: ${HALF}`);
      },
    },
  }),
] as IntegrationDefinition[];

let intake: IntakeTest;
beforeAll(async () => {
  intake = await startIntakeTest(defs, { sync: true, secretsFor: ['refuses-oddly'], workerId: 'refusal-text', alerting: true });
});
afterAll(() => intake?.close());

describe('an event refused with a message holding a NUL or half a character', () => {
  it('is marked failed once, its run ends after one attempt, and the incident says why', async () => {
    const answer = await deliverSigned(intake.deps, {
      integration: 'refuses-oddly',
      secret: intake.secrets.get('refuses-oddly')!,
      id: 'odd-1',
      body: JSON.stringify({ type: 'order.created' }),
    });
    expect(answer.status).toBe(200);
    const { t } = intake;
    const run = await waitFor('the event run to finish', async () => {
      const [row] = await t.db.select().from(runs).where(eq(runs.integration, 'refuses-oddly'));
      return row?.finishedAt ? row : undefined;
    });
    expect(run).toMatchObject({ status: 'succeeded', attemptCount: 1, interruptions: 0 });
    const [event] = await t.db.select().from(webhookEvents).where(eq(webhookEvents.eventId, 'odd-1'));
    expect(event).toMatchObject({
      status: 'failed',
      outcome: "refused by the handler: customer 'Broken\uFFFDImport' unknown: Café \uFFFD",
    });
    const incident = await waitFor('the events_failed incident', async () => {
      const [row] = await t.db.select().from(incidents).where(eq(incidents.integration, 'refuses-oddly'));
      return row;
    });
    expect(incident.lastError).toContain("customer 'Broken\uFFFDImport' unknown: Café \uFFFD");
  });
});
