import { runNow } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { ZRunNowBody } from '@/lib/server/api-schemas';
import { getBoss } from '@/lib/server/boss';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Starts a run (or a dry-run) of one integration now: `{ "dryRun": false }`. Next has already decoded `params.name`. */
export const POST = route({
  role: 'operator',
  input: ZRunNowBody,
  // dedupe: like the console's Run now, a request while the same kind of run is queued and not
  // started returns that run (`deduplicated: true`): two scripts at once start one run.
  handler: async ({ input, user, params, db, correlationId }) =>
    runNow(db, await getBoss(), {
      integration: params.name,
      dryRun: input.dryRun,
      reason: input.reason,
      triggeredBy: user.email || user.name,
      trigger: 'api',
      dedupe: true,
      correlationId,
    }),
});

export const { GET, PUT, PATCH, DELETE, OPTIONS } = otherMethods('POST');
