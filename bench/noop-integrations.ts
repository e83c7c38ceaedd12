import { z } from 'zod';
import { defineIntegration, type IntegrationDefinition } from '../lib/platform/contract';

/**
 * No-op integrations for the dispatch and scale-out benchmarks: the handler does nothing, so what
 * is measured is the platform's path around it (queue, runner, policies, run and attempt records,
 * completion). `onStart` lets the latency measurement see when the handler begins.
 */
export const noopName = (i: number) => `bench-noop-${i}`;

export function noopIntegrations(count: number, onStart?: (runId: string) => void): IntegrationDefinition[] {
  return Array.from(
    { length: count },
    (_, i) =>
      defineIntegration({
        name: noopName(i),
        description: `Benchmark no-op ${i}`,
        settings: z.object({}),
        defaults: { schedule: null, retry: { delays: ['30s'] } },
        async execute(ctx) {
          onStart?.(ctx.run.id);
          return { processed: 0 };
        },
      }) as IntegrationDefinition,
  );
}
