import { requirePageRole } from '@/lib/auth/guards';

/**
 * Users and API tokens are for admins. Checked here as well as in each page: a layout renders
 * above the pages' loading skeleton, so a viewer or operator gets the 403 page with status 403;
 * the page's own check alone would come after the skeleton had sent a 200.
 */
export default async function UsersLayout({ children }: { children: React.ReactNode }) {
  await requirePageRole('admin');
  return children;
}
