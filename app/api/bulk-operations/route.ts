import { listBulkOperations } from '@/lib/platform/triggers/triggers';
import { otherMethods } from '@/lib/server/api-methods';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Recent bulk retries with their progress (queued, behind the breaker, started, succeeded, failed). */
export const GET = route({ role: 'viewer', handler: async () => ({ items: await listBulkOperations(getDb(), { limit: 5 }) }) });

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
