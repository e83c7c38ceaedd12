import { notFound } from 'next/navigation';
import { EmptyState } from '@/components/common/empty-state';
import { RelativeTime } from '@/components/common/relative-time';
import { ReplaceSecret } from '@/components/config/replace-secret';
import { NotInBuildNotice } from '@/components/integrations/not-in-build';
import { Badge } from '@/components/ui/badge';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { requirePageRole } from '@/lib/auth/guards';
import { getIntegrationConfig } from '@/lib/platform/governance/config';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getRegistry } from '@/lib/server/registry';

export const metadata = { title: 'Credentials' };
export const dynamic = 'force-dynamic';

export default async function CredentialsPage({ params }: { params: Promise<{ name: string }> }) {
  await requirePageRole('admin');
  const name = segmentName((await params).name);
  const def = getRegistry().get(name);
  const config = await getIntegrationConfig(getDb(), { integration: name, declaredSecrets: def?.secrets ?? [] });
  if (!config) notFound();
  return (
    <div className="flex flex-col gap-3">
      <p className="text-sm text-muted-foreground">
        Secrets are write-only: set or replace them here; their values never come back to the browser.
      </p>
      {/* Without its handler the console does not know which secrets it declares: the stored ones are listed, read only. */}
      {def ? null : <NotInBuildNotice registered={config.registered} toDo="set its credentials" />}
      {config.secrets.length === 0 ? (
        <EmptyState title="No secrets">{def ? 'This integration declares no credentials.' : 'No secrets are stored for it.'}</EmptyState>
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>Secret</TableHead>
              <TableHead>Status</TableHead>
              <TableHead>Set</TableHead>
              <TableHead className="text-right">Action</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {config.secrets.map((s) => (
              <TableRow key={s.name} data-testid={`secret-${s.name}`}>
                <TableCell data-label="Secret" className="font-mono text-sm">
                  {s.name}
                </TableCell>
                <TableCell data-label="Status">
                  {s.set ? <Badge variant="success">set</Badge> : <Badge variant="warning">not set</Badge>}
                </TableCell>
                <TableCell data-label="Set" className="text-xs">
                  {s.set ? (
                    <>
                      set <RelativeTime value={s.updatedAt} /> by {s.updatedBy}
                    </>
                  ) : (
                    '—'
                  )}
                </TableCell>
                <TableCell data-label="Action" className="text-right">
                  {def ? <ReplaceSecret integration={name} name={s.name} version={config.version} isSet={s.set} /> : null}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </div>
  );
}
