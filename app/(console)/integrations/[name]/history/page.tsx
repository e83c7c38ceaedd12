import Link from 'next/link';
import { notFound } from 'next/navigation';
import { z } from 'zod';
import { AuditChange, describeAuditField } from '@/components/audit/audit-value';
import { EmptyState } from '@/components/common/empty-state';
import { IgnoredParams } from '@/components/common/ignored-params';
import { RelativeTime } from '@/components/common/relative-time';
import { RevertButton } from '@/components/config/revert-button';
import { RevertPlanView } from '@/components/config/revert-plan';
import { Badge } from '@/components/ui/badge';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Select } from '@/components/ui/select';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { changesSince, fieldHistory } from '@/lib/platform/governance/audit';
import { getIntegrationConfig } from '@/lib/platform/governance/config';
import { AUDIT_FIELD_PATTERNS } from '@/lib/platform/governance/config-fields';
import { configAsOf, originalConfigMoment, planRevert } from '@/lib/platform/governance/config-history';
import { parseSearchParams, ZAuditCursor } from '@/lib/platform/params';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getRegistry } from '@/lib/server/registry';

export const metadata = { title: 'History' };
export const dynamic = 'force-dynamic';

const FIELDS = AUDIT_FIELD_PATTERNS;

const ZHistoryParams = z.object({
  field: z.enum(FIELDS as [string, ...string[]]).optional(),
  asOf: z.union([z.literal('original'), z.string().regex(/^\d{1,15}$/, 'must be a change number from this page or "original"')]).optional(),
  before: ZAuditCursor.optional(),
});

export default async function HistoryPage({
  params,
  searchParams,
}: {
  params: Promise<{ name: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const { data, problems } = parseSearchParams(ZHistoryParams, await searchParams);
  const { field, asOf } = data;
  const db = getDb();
  const config = await getIntegrationConfig(db, { integration: name });
  if (!config) notFound();
  const cursor = data.before;
  const rows =
    field && FIELDS.includes(field)
      ? await fieldHistory(db, { integration: name, fieldName: field, limit: 200 })
      : await changesSince(db, { since: new Date(0), integration: name, limit: 100, before: cursor });
  const original = await originalConfigMoment(db, { integration: name });
  const asOfRow = asOf && asOf !== 'original' ? rows.find((r) => String(r.id) === asOf) : undefined;
  // The version to show: the one a change made, or the original one (before the first change).
  const shown = asOfRow
    ? {
        at: asOfRow.changedAt,
        label: `the version after ${asOfRow.changedBy} changed ${asOfRow.fieldName}`,
        title: 'Configuration as of this change',
      }
    : asOf === 'original' && original
      ? { at: original, label: 'the original configuration', title: 'Original configuration' }
      : null;
  const snapshot = shown ? await configAsOf(db, { integration: name, at: shown.at }) : null;
  const isAdmin = hasRole(user.role, 'admin');
  const definition = getRegistry().get(name);
  const defaultMapping = definition?.mapping?.defaults;
  // What a revert to the shown version changes, listed in its dialog (admins of a registered integration only).
  const revertPlan = shown && isAdmin && definition ? await planRevert(db, { integration: name, at: shown.at, definition }) : null;
  const last = !field && rows.length === 100 ? rows[rows.length - 1] : null;
  const historyHref = (extra: Record<string, string>) =>
    `/integrations/${encodeURIComponent(name)}/history?${new URLSearchParams({ ...(field ? { field } : {}), ...extra })}`;
  return (
    <div className="flex flex-col gap-4">
      {/* Keyed by the filter: Back and Forward re-render without a page load (see Runs). */}
      <form
        // Back to a filtered page loads it again: without this Chromium restores the controls'
        // last values there, so the form claimed a filter the list (from the address) did not have.
        autoComplete="off"
        key={`filters?${field ?? ''}`}
        className="flex flex-wrap items-end gap-2"
        aria-label="Filter history"
      >
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
      <IgnoredParams problems={problems} />
      {snapshot && shown ? (
        <Card data-testid="config-as-of">
          <CardHeader className="flex-row flex-wrap items-center justify-between gap-2">
            <div>
              <CardTitle>{shown.title}</CardTitle>
              <CardDescription>
                {asOfRow ? (
                  <>
                    Rebuilt from the audit trail at <RelativeTime value={asOfRow.changedAt} /> ({asOfRow.changedBy}, {asOfRow.fieldName}).
                  </>
                ) : (
                  'The configuration before the first recorded change, rebuilt from the audit trail.'
                )}
              </CardDescription>
            </div>
            <div className="flex gap-2">
              {revertPlan ? (
                <RevertButton
                  integration={name}
                  at={shown.at.toISOString()}
                  label={shown.label}
                  version={config.version}
                  plan={<RevertPlanView plan={revertPlan} defaultMapping={defaultMapping} />}
                  changes={revertPlan.changes.length}
                  refused={revertPlan.refusal !== null}
                />
              ) : null}
              <Button asChild size="sm" variant="ghost">
                <Link href={`/integrations/${encodeURIComponent(name)}/history${field ? `?field=${encodeURIComponent(field)}` : ''}`}>
                  Close
                </Link>
              </Button>
            </div>
          </CardHeader>
          <CardContent>
            <pre tabIndex={0} className="max-h-96 overflow-auto rounded-md bg-muted p-3 text-xs">
              {JSON.stringify(snapshot, null, 2)}
            </pre>
          </CardContent>
        </Card>
      ) : null}
      {rows.length === 0 ? (
        <EmptyState title="No changes recorded">
          {field
            ? 'Nothing changed this field. Clear the filter to see every change.'
            : 'Configuration edits and operator actions appear here.'}
        </EmptyState>
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
                    <Link className="hover:underline" href={historyHref({ asOf: String(r.id) })}>
                      View config as of this change
                    </Link>
                  ) : null}
                </TableCell>
              </TableRow>
            ))}
            {original && !last ? (
              <TableRow data-testid="history-original">
                <TableCell className="text-xs text-muted-foreground" colSpan={5}>
                  Original configuration, before the first recorded change
                </TableCell>
                <TableCell className="text-right">
                  <Link className="text-xs hover:underline" href={historyHref({ asOf: 'original' })}>
                    View original configuration
                  </Link>
                </TableCell>
              </TableRow>
            ) : null}
          </TableBody>
        </Table>
      )}
      {last ? (
        <Link
          className="self-end text-sm hover:underline"
          href={`/integrations/${encodeURIComponent(name)}/history?before=${last.id}|${last.changedAt.toISOString()}`}
        >
          Older changes →
        </Link>
      ) : null}
    </div>
  );
}
