import { retryRuns } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { ZBulkRetryBody } from '@/lib/server/api-schemas';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Bulk retry: `{ "runIds": [...] }`, all-or-nothing. */
export const POST = route({
  role: 'operator',
  input: ZBulkRetryBody,
  handler: async ({ input, user, db, correlationId }) =>
    retryRuns(db, await getBoss(), { runIds: input.runIds, triggeredBy: user.email || user.name, correlationId }),
});

export const { GET, PUT, PATCH, DELETE, OPTIONS } = otherMethods('POST');
