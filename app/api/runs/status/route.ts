import { z } from 'zod';
import { runStatuses } from '@/lib/platform/read-models/run-queries';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Live status of up to 200 runs (comma-separated ids): what the console polls while work is active. */
export const GET = route({
  role: 'viewer',
  input: z.object({
    ids: z
      .string()
      .max(200 * 37)
      .transform((s) => s.split(',').filter(Boolean))
      .pipe(z.array(z.string().uuid('ids must be run ids')).max(200)),
  }),
  handler: async ({ input }) => ({ items: await runStatuses(getDb(), { ids: input.ids }) }),
});
