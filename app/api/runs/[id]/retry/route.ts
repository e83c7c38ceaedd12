import { z } from 'zod';
import { retryRun } from '@/lib/platform/triggers/triggers';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Retries one failed run as a new run linked to it: `{ "reason": "..." }` (optional). */
export const POST = route({
  role: 'operator',
  input: z.object({ reason: z.string().trim().max(500).optional() }).strict(),
  handler: async ({ input, user, params, db, correlationId }) =>
    retryRun(db, await getBoss(), { runId: params.id, reason: input.reason, triggeredBy: user.email || user.name, correlationId }),
});
