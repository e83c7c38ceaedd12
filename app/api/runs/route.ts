import { requireKnownIntegration } from '@/lib/platform/read-models/integration-names';
import { queryRuns, ZRunFilter } from '@/lib/platform/read-models/run-queries';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/**
 * Runs, newest first, filtered and keyset-paginated (`next` is the cursor of the following page).
 * An integration that does not exist is a 400 naming it, not an empty list.
 */
export const GET = route({
  role: 'viewer',
  input: ZRunFilter,
  handler: async ({ input }) => {
    const db = getDb();
    await requireKnownIntegration(db, { list: 'runs', integration: input.integration });
    return queryRuns(db, input);
  },
});

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
