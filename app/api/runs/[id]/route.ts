import { getRunDetail } from '@/lib/platform/read-models/run-queries';
import { UserError } from '@/lib/server/action';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

export const GET = route({
  role: 'viewer',
  handler: async ({ params }) => {
    const detail = await getRunDetail(getDb(), { id: params.id });
    if (!detail) throw new UserError(`Run ${params.id} does not exist.`, undefined, 404);
    return detail;
  },
});
