import { cancelRun } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

export const POST = route({
  role: 'operator',
  handler: async ({ user, params, db, correlationId }) => {
    await cancelRun(db, await getBoss(), { runId: params.id, by: user.email || user.name, correlationId });
    return { runId: params.id, cancelled: true };
  },
});

export const { GET, PUT, PATCH, DELETE, OPTIONS } = otherMethods('POST');
