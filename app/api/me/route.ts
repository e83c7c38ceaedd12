import { otherMethods } from '@/lib/server/api-methods';
import { route } from '@/lib/server/route';

export const dynamic = 'force-dynamic';

/** Who the caller is (a signed-in user, or an API token acting as "token <name> (created by <admin>)"). */
export const GET = route({
  role: 'viewer',
  handler: async ({ user }) => ({
    user: { id: user.id, name: user.name, email: user.email, role: user.role, ...(user.tokenId ? { tokenId: user.tokenId } : {}) },
  }),
});

export const { POST, PUT, PATCH, DELETE, OPTIONS } = otherMethods('GET');
