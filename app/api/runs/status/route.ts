import { runStatuses } from '@/lib/platform/read-models/run-queries';
import { otherMethods } from '@/lib/server/api-methods';
import { ZRunStatusesQuery } from '@/lib/server/api-schemas';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Live status of up to 200 runs (comma-separated ids): what the console polls while work is active. */
export const GET = route({
  role: 'viewer',
  input: ZRunStatusesQuery,
  handler: async ({ input }) => ({ items: await runStatuses(getDb(), { ids: input.ids }) }),
});

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
