import Link from 'next/link';
import { EmptyState } from '@/components/common/empty-state';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { Badge } from '@/components/ui/badge';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { UserRowActions } from '@/components/users/user-row-actions';
import { requirePageRole } from '@/lib/auth/guards';
import { listUsers } from '@/lib/auth/users';
import { getDb } from '@/lib/server/db';

export const metadata = { title: 'Users' };
export const dynamic = 'force-dynamic';

export default async function UsersPage() {
  const me = await requirePageRole('admin');
  const users = await listUsers(getDb());
  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title="Users and roles"
        description="People appear here after their first SSO sign-in. Viewers read; operators also run, retry, pause and reset breakers; admins also edit configuration, credentials, mappings, channels and roles. Every change is audited."
        actions={
          <Link className="text-sm underline" href="/users/tokens">
            API tokens for scripts
          </Link>
        }
      />
      {users.length === 0 ? (
        <EmptyState title="No users yet" />
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>E-mail</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Last seen</TableHead>
              <TableHead className="text-right">Role</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {users.map((u) => (
              <TableRow key={u.id}>
                <TableCell data-label="Name" className="font-medium">
                  {u.name}
                </TableCell>
                <TableCell data-label="E-mail" className="text-xs">
                  {u.email}
                </TableCell>
                <TableCell data-label="Status">
                  {u.disabled ? <Badge variant="destructive">disabled</Badge> : <Badge variant="success">active</Badge>}
                </TableCell>
                <TableCell data-label="Last seen" className="text-xs">
                  <RelativeTime value={u.lastSeenAt} />
                </TableCell>
                <TableCell data-label="Role">
                  <UserRowActions id={u.id} name={u.name} role={u.role} disabled={u.disabled} self={u.id === me.id} />
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </div>
  );
}
