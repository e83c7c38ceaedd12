import { z } from 'zod';
import { integrations } from '../lib/integrations';
import { defineIntegration, type IntegrationDefinition } from '../lib/platform/contract';
import { buildRegistry } from '../lib/platform/registry';

/**
 * Benchmark 7's integration: receives Standard Webhooks and applies them with a no-op handler. The
 * registry also holds the product's integrations: the production build (`next start`) is measured on
 * `payment-events`, and the same worker applies both.
 */
export const BENCH_EVENTS = 'bench-events';

export function benchEventsRegistry() {
  return buildRegistry([
    ...integrations,
    defineIntegration({
      name: BENCH_EVENTS,
      description: 'Benchmark: receives signed events, applies them with a no-op',
      settings: z.object({}),
      defaults: { retry: { delays: ['1s'] } },
      events: {
        scheme: 'standard-webhooks',
        typeFrom: (d) => (d.body as { type?: string }).type,
        orderingKeyFrom: (d) => (d.body as { key?: string }).key,
        versionFrom: (d) => (d.body as { version?: number }).version,
        batchSize: 50,
        async handle() {},
      },
    }) as IntegrationDefinition,
  ]);
}
