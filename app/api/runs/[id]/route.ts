import { z } from 'zod';
import { AppError } from '@/lib/platform/errors';
import { parseTriggerInput, ZRunId } from '@/lib/platform/execution/run-create';
import { getRunDetail } from '@/lib/platform/read-models/run-queries';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

export const GET = route({
  role: 'viewer',
  handler: async ({ params }) => {
    // A malformed id is refused as retry and cancel refuse it (400), not looked up as a missing run.
    const { runId } = parseTriggerInput(z.object({ runId: ZRunId }), { runId: params.id });
    const detail = await getRunDetail(getDb(), { id: runId });
    if (!detail) throw new AppError('not_found', `Run ${runId} does not exist.`);
    return detail;
  },
});

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
