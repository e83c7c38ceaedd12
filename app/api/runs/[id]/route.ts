import { AppError } from '@/lib/platform/errors';
import { getRunDetail } from '@/lib/platform/read-models/run-queries';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

export const GET = route({
  role: 'viewer',
  handler: async ({ params }) => {
    const detail = await getRunDetail(getDb(), { id: params.id });
    if (!detail) throw new AppError('not_found', `Run ${params.id} does not exist.`);
    return detail;
  },
});
