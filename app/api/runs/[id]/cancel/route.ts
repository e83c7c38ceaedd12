import { cancelRun } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { ZCancelRunBody } from '@/lib/server/api-schemas';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Cancels a queued, waiting or running run: `{ "reason": "..." }` (optional). */
export const POST = route({
  role: 'operator',
  input: ZCancelRunBody,
  handler: async ({ input, user, params, db, correlationId }) => {
    await cancelRun(db, await getBoss(), { runId: params.id, by: user.email || user.name, reason: input.reason, correlationId });
    return { runId: params.id, cancelled: true };
  },
});

export const { GET, PUT, PATCH, DELETE, OPTIONS } = otherMethods('POST');
