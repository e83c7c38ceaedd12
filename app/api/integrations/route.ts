import { z } from 'zod';
import { listInventory } from '@/lib/platform/read-models/inventory';
import { getDb } from '@/lib/server/db';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

export const GET = route({
  role: 'viewer',
  input: z.object({ search: z.string().max(200).optional() }),
  handler: async ({ input }) => ({ items: await listInventory(getDb(), input) }),
});
