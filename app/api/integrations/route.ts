import { listInventory } from '@/lib/platform/read-models/inventory';
import { otherMethods } from '@/lib/server/api-methods';
import { ZIntegrationsQuery } from '@/lib/server/api-schemas';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

export const GET = route({
  role: 'viewer',
  input: ZIntegrationsQuery,
  handler: async ({ input }) => ({ items: await listInventory(getDb(), input) }),
});

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
