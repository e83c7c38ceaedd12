import { retryRun } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { ZRetryRunBody } from '@/lib/server/api-schemas';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Retries one failed run as a new run linked to it: `{ "reason": "..." }` (optional). */
export const POST = route({
  role: 'operator',
  input: ZRetryRunBody,
  handler: async ({ input, user, params, db, correlationId }) =>
    retryRun(db, await getBoss(), { runId: params.id, reason: input.reason, triggeredBy: user.email || user.name, correlationId }),
});

export const { GET, PUT, PATCH, DELETE, OPTIONS } = otherMethods('POST');
