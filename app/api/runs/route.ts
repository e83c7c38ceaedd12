import { queryRuns, ZRunFilter } from '@/lib/platform/read-models/run-queries';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Runs, newest first, filtered and keyset-paginated (`next` is the cursor of the following page). */
export const GET = route({ role: 'viewer', input: ZRunFilter, handler: ({ input }) => queryRuns(getDb(), input) });

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
