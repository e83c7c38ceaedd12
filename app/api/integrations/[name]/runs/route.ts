import { z } from 'zod';
import { runNow } from '@/lib/platform/triggers';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Starts a run (or a dry-run) of one integration now: `{ "dryRun": false }`. Next has already decoded `params.name`. */
export const POST = route({
  role: 'operator',
  input: z.object({ dryRun: z.boolean().default(false), reason: z.string().trim().max(500).optional() }).strict(),
  handler: async ({ input, user, params }) =>
    runNow(getDb(), await getBoss(), { integration: params.name, dryRun: input.dryRun, reason: input.reason, triggeredBy: user.email || user.name, trigger: 'api' }),
});
