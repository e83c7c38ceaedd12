import Link from 'next/link';
import { notFound } from 'next/navigation';
import { AuditChange, describeAuditField } from '@/components/audit/audit-value';
import { EmptyState } from '@/components/common/empty-state';
import { RelativeTime } from '@/components/common/relative-time';
import { RevertButton } from '@/components/config/revert-button';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Select } from '@/components/ui/select';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { changesSince, fieldHistory } from '@/lib/platform/audit';
import { getIntegrationConfig } from '@/lib/platform/config';
import { configAsOf } from '@/lib/platform/config-history';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getRegistry } from '@/lib/server/registry';

export const metadata = { title: 'History' };
export const dynamic = 'force-dynamic';

const FIELDS = ['schedule', 'timezone', 'retryDelays', 'breakerFailures', 'breakerCooldown', 'retryBudget', 'resumePolicy', 'settings.*', 'secret.*', 'mapping', 'alertRouting'];

export default async function HistoryPage({ params, searchParams }: { params: Promise<{ name: string }>; searchParams: Promise<{ field?: string; asOf?: string; before?: string }> }) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const { field, asOf, before } = await searchParams;
  const db = getDb();
  const config = await getIntegrationConfig(db, { integration: name });
  if (!config) notFound();
  const cursor = before && /^\d+\|/.test(before) ? { id: Number(before.split('|')[0]), changedAt: new Date(before.split('|')[1]) } : undefined;
  const rows =
    field && FIELDS.includes(field)
      ? await fieldHistory(db, { integration: name, fieldName: field, limit: 200 })
      : await changesSince(db, { since: new Date(0), integration: name, limit: 100, before: cursor });
  const asOfRow = asOf ? rows.find((r) => String(r.id) === asOf) : undefined;
  const snapshot = asOfRow ? await configAsOf(db, { integration: name, at: asOfRow.changedAt }) : null;
  const isAdmin = hasRole(user.role, 'admin');
  const defaultMapping = getRegistry().get(name)?.mapping?.defaults;
  const last = !field && rows.length === 100 ? rows[rows.length - 1] : null;
  return (
    <div className="flex flex-col gap-4">
      <form className="flex flex-wrap items-end gap-2" aria-label="Filter history">
        <Select name="field" defaultValue={field ?? ''} aria-label="Field">
          <option value="">Every field and action</option>
          {FIELDS.map((f) => (
            <option key={f} value={f}>
              {f.replace('.*', ' (all)')}
            </option>
          ))}
        </Select>
        <Button type="submit" variant="outline">
          Filter
        </Button>
      </form>
      {snapshot ? (
        <Card data-testid="config-as-of">
          <CardHeader className="flex-row flex-wrap items-center justify-between gap-2">
            <div>
              <CardTitle>Configuration as of this change</CardTitle>
              <CardDescription>
                Rebuilt from the audit trail at <RelativeTime value={asOfRow!.changedAt} /> ({asOfRow!.changedBy}, {asOfRow!.fieldName}).
              </CardDescription>
            </div>
            <div className="flex gap-2">
              {isAdmin ? <RevertButton integration={name} at={asOfRow!.changedAt.toISOString()} version={config.version} /> : null}
              <Button asChild size="sm" variant="ghost">
                <Link href={`/integrations/${encodeURIComponent(name)}/history${field ? `?field=${encodeURIComponent(field)}` : ''}`}>Close</Link>
              </Button>
            </div>
          </CardHeader>
          <CardContent>
            <pre tabIndex={0} className="max-h-96 overflow-auto rounded-md bg-muted p-3 text-xs">{JSON.stringify(snapshot, null, 2)}</pre>
          </CardContent>
        </Card>
      ) : null}
      {rows.length === 0 ? (
        <EmptyState title="No changes recorded">{field ? 'Nothing changed this field. Clear the filter to see every change.' : 'Configuration edits and operator actions appear here.'}</EmptyState>
      ) : (
        <Table stacked>
          <TableHeader>
            <TableRow>
              <TableHead>When</TableHead>
              <TableHead>Who</TableHead>
              <TableHead>What</TableHead>
              <TableHead>Change</TableHead>
              <TableHead>Correlation id</TableHead>
              <TableHead>Configuration</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {rows.map((r) => (
              <TableRow key={r.id} data-testid="history-row">
                <TableCell className="text-xs whitespace-nowrap" data-label="When">
                  <RelativeTime value={r.changedAt} />
                </TableCell>
                <TableCell className="text-xs break-all" data-label="Who">
                  {r.changedBy}
                </TableCell>
                <TableCell className="text-xs" data-label="What">
                  {r.kind === 'action' ? <Badge variant="outline">operator action</Badge> : null} {describeAuditField(r.kind, r.fieldName)}
                </TableCell>
                <TableCell className="max-w-md text-xs" data-label="Change">
                  <AuditChange entry={r} defaultMapping={r.fieldName === 'mapping' ? defaultMapping : undefined} />
                </TableCell>
                <TableCell className="font-mono text-xs text-muted-foreground" title={r.correlationId} data-label="Correlation id">
                  {r.correlationId.slice(0, 8)}
                </TableCell>
                <TableCell className="text-xs" data-label="Configuration">
                  {r.kind === 'config' ? (
                    <Link className="hover:underline" href={`/integrations/${encodeURIComponent(name)}/history?${new URLSearchParams({ ...(field ? { field } : {}), asOf: String(r.id) })}`}>
                      View config as of this change
                    </Link>
                  ) : null}
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {last ? (
        <Link className="self-end text-sm hover:underline" href={`/integrations/${encodeURIComponent(name)}/history?before=${last.id}|${last.changedAt.toISOString()}`}>
          Older changes →
        </Link>
      ) : null}
    </div>
  );
}
