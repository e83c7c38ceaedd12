import { retryRuns } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { ZBulkRetryBody } from '@/lib/server/api-schemas';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/**
 * Bulk retry, all-or-nothing: `{ "runIds": [...] }` (those runs) or `{ "filter": {...} }` (the
 * console's "Retry all matching": the oldest 500 not-yet-retried runs the filter matches), either
 * with an optional `pace`.
 */
export const POST = route({
  role: 'operator',
  input: ZBulkRetryBody,
  handler: async ({ input, user, db, correlationId }) => {
    const { runIds, bulkOperationId } = await retryRuns(db, await getBoss(), {
      runIds: input.runIds,
      filter: input.filter,
      pace: input.pace,
      triggeredBy: user.email || user.name,
      correlationId,
    });
    return { bulkOperationId, queued: runIds.length, runIds };
  },
});

export const { GET, PUT, PATCH, DELETE, OPTIONS } = otherMethods('POST');
