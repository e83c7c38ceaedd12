import Link from 'next/link';
import { EmptyState } from '@/components/common/empty-state';
import { PageHeader } from '@/components/common/page-header';
import { RelativeTime } from '@/components/common/relative-time';
import { Badge } from '@/components/ui/badge';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { CreateApiToken, RevokeApiToken } from '@/components/users/api-tokens';
import { listApiTokens } from '@/lib/auth/api-tokens';
import { requirePageRole } from '@/lib/auth/guards';
import { getDb } from '@/lib/server/db';

export const metadata = { title: 'API tokens' };
export const dynamic = 'force-dynamic';

export default async function ApiTokensPage() {
  await requirePageRole('admin');
  const tokens = await listApiTokens(getDb());
  const now = Date.now();
  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title="API tokens"
        description={
          <>
            Scripts and CI jobs call the JSON API with <code>Authorization: Bearer &lt;token&gt;</code>. A token has a role (viewer or
            operator, never more than its creator&apos;s), an expiry, and works on <code>/api/…</code> only, not on console pages. What it
            changes is audited as &ldquo;token &lt;name&gt; (created by &lt;admin&gt;)&rdquo;. The API is described at{' '}
            <a className="underline" href="/api/openapi.json">
              /api/openapi.json
            </a>
            . <Link href="/users">Back to users</Link>
          </>
        }
      />
      <CreateApiToken />
      {tokens.length === 0 ? (
        <EmptyState title="No API tokens yet">
          Create one above for each script that calls the API, so each can be revoked alone.
        </EmptyState>
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>Name</TableHead>
              <TableHead>Role</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Created</TableHead>
              <TableHead>Expires</TableHead>
              <TableHead>Last used</TableHead>
              <TableHead className="text-right">Actions</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {tokens.map((t) => {
              const expired = t.expiresAt.getTime() <= now;
              return (
                <TableRow key={t.id} data-testid={`token-${t.name}`}>
                  <TableCell data-label="Name">
                    <div className="font-medium">{t.name}</div>
                    <code className="text-xs text-muted-foreground">{t.prefix}…</code>
                  </TableCell>
                  <TableCell data-label="Role">{t.role}</TableCell>
                  <TableCell data-label="Status">
                    {t.revokedAt ? (
                      <Badge variant="destructive">revoked</Badge>
                    ) : expired ? (
                      <Badge variant="warning">expired</Badge>
                    ) : (
                      <Badge variant="success">active</Badge>
                    )}
                  </TableCell>
                  <TableCell data-label="Created" className="text-xs">
                    <RelativeTime value={t.createdAt} /> by {t.createdBy}
                  </TableCell>
                  <TableCell data-label="Expires" className="text-xs">
                    {/* A revoked token no longer expires: its date would read as time left. */}
                    {t.revokedAt ? <span className="text-muted-foreground">— (revoked)</span> : <RelativeTime value={t.expiresAt} />}
                  </TableCell>
                  <TableCell data-label="Last used" className="text-xs">
                    {t.lastUsedAt ? <RelativeTime value={t.lastUsedAt} /> : <span className="text-muted-foreground">never</span>}
                  </TableCell>
                  <TableCell data-label="Actions" className="text-right">
                    {t.revokedAt ? (
                      <span className="text-xs text-muted-foreground">
                        revoked <RelativeTime value={t.revokedAt} /> by {t.revokedBy}
                      </span>
                    ) : (
                      <RevokeApiToken id={t.id} name={t.name} />
                    )}
                  </TableCell>
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
    </div>
  );
}
