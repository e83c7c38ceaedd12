import { z } from 'zod';
import { retryRuns } from '@/lib/platform/triggers/triggers';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Bulk retry: `{ "runIds": [...] }`, all-or-nothing. */
export const POST = route({
  role: 'operator',
  input: z.object({ runIds: z.array(z.string().uuid('runIds must be run ids')).min(1).max(500) }).strict(),
  handler: async ({ input, user, db, correlationId }) =>
    retryRuns(db, await getBoss(), { runIds: input.runIds, triggeredBy: user.email || user.name, correlationId }),
});
