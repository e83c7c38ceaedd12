'use server';

import { z } from 'zod';
import {
  cancelBulkOperation,
  cancelRun,
  retryRun,
  retryRuns,
  runNow,
  setBulkPace,
  ZBulkPace,
  ZRetryMatchingFilter,
} from '@/lib/platform/triggers/triggers';
import { defineAction } from '@/lib/server/action';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';

const ZRunId = z.string().uuid('That is not a run id.');

export const retryRunAction = defineAction({
  role: 'operator',
  name: 'retry_run',
  input: z.object({ runId: ZRunId, reason: z.string().trim().max(500).optional() }),
  handler: async (input, { user, correlationId }) =>
    retryRun(getDb(), await getBoss(), { runId: input.runId, triggeredBy: user.email || user.name, reason: input.reason, correlationId }),
});

export const retryRunsAction = defineAction({
  role: 'operator',
  name: 'retry_runs',
  input: z.object({
    runIds: z.array(ZRunId).min(1, 'Select at least one failed run.').max(500, 'Retry at most 500 runs at once.'),
    pace: ZBulkPace.optional(),
  }),
  handler: async (input, { user, correlationId }) =>
    retryRuns(getDb(), await getBoss(), { runIds: input.runIds, pace: input.pace, triggeredBy: user.email || user.name, correlationId }),
});

/** Retry all matching: the Runs list's filter (failed or cancelled runs), oldest first, at most 500. */
export const retryMatchingAction = defineAction({
  role: 'operator',
  name: 'retry_matching',
  // The filter schema of POST /api/runs/retry too: the console and scripts are refused alike.
  input: ZRetryMatchingFilter.safeExtend({ pace: ZBulkPace.optional() }),
  handler: async ({ pace, ...filter }, { user, correlationId }) => {
    const result = await retryRuns(getDb(), await getBoss(), { filter, pace, triggeredBy: user.email || user.name, correlationId });
    return { bulkOperationId: result.bulkOperationId, queued: result.runIds.length };
  },
});

export const cancelRunAction = defineAction({
  role: 'operator',
  name: 'cancel_run',
  input: z.object({ runId: ZRunId }),
  handler: async (input, { user, correlationId }) => {
    await cancelRun(getDb(), await getBoss(), { runId: input.runId, by: user.email || user.name, correlationId });
    return { runId: input.runId };
  },
});

export const runNowAction = defineAction({
  role: 'operator',
  name: 'run_now',
  input: z.object({ integration: z.string().min(1).max(100), dryRun: z.boolean().default(false) }),
  handler: async (input, { user, correlationId }) =>
    runNow(getDb(), await getBoss(), {
      integration: input.integration,
      dryRun: input.dryRun,
      triggeredBy: user.email || user.name,
      trigger: 'manual',
      correlationId,
    }),
});

export const cancelBulkAction = defineAction({
  role: 'operator',
  name: 'cancel_bulk',
  input: z.object({ id: z.string().uuid('That is not a bulk operation id.') }),
  handler: async (input, { user, correlationId }) =>
    cancelBulkOperation(getDb(), await getBoss(), { id: input.id, by: user.email || user.name, correlationId }),
});

export const setBulkPaceAction = defineAction({
  role: 'operator',
  name: 'set_bulk_pace',
  input: z.object({ id: z.string().uuid('That is not a bulk operation id.'), pace: ZBulkPace }),
  handler: async (input, { user, correlationId }) =>
    setBulkPace(getDb(), { bulkOperationId: input.id, pace: input.pace, actor: user.email || user.name, correlationId }),
});
