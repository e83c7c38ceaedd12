import { setBulkPace } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { ZBulkPaceBody } from '@/lib/server/api-schemas';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Change the pace of a bulk retry's runs not released yet: `{ "pace": { "runs": 20, "per": "1m" } }`. */
export const PATCH = route({
  role: 'operator',
  input: ZBulkPaceBody,
  handler: async ({ input, user, params, db, correlationId }) =>
    setBulkPace(db, { bulkOperationId: params.id, pace: input.pace, actor: user.email || user.name, correlationId }),
});

export const { GET, POST, PUT, DELETE, OPTIONS } = otherMethods('PATCH');
