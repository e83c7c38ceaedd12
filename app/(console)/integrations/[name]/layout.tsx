import { notFound } from 'next/navigation';
import { PageHeader } from '@/components/common/page-header';
import { DriftNotice } from '@/components/integrations/drift-notice';
import { FailingReasons } from '@/components/integrations/failing-reasons';
import { IntegrationTabs } from '@/components/integrations/integration-tabs';
import { StateBadges } from '@/components/integrations/state-badge';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { lastDriftOf } from '@/lib/platform/governance/config-drift';
import { driftToKeep } from '@/lib/platform/governance/config-keep';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getInventoryRow } from '@/lib/server/queries';
import { getRegistry } from '@/lib/server/registry';

export default async function IntegrationLayout({ children, params }: { children: React.ReactNode; params: Promise<{ name: string }> }) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const [row, drift] = await Promise.all([getInventoryRow(name), lastDriftOf(getDb(), { integration: name })]);
  if (!row) notFound();
  const isAdmin = hasRole(user.role, 'admin');
  const def = getRegistry().get(name);
  // What an admin could keep as it is stored now (read only when the last check found something).
  const keep = isAdmin && drift ? await driftToKeep(getDb(), { integration: name }) : null;
  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-3">
            {row.name} <StateBadges state={row.state} health={row.health} />
          </span>
        }
        description={row.registered ? row.description : `${row.description} — the handler is no longer registered; its history is kept.`}
      />
      <FailingReasons reasons={row.failingReasons} lead="Failing: " className="rounded-md bg-destructive/10 p-2 text-sm" />
      <DriftNotice name={row.name} notice={drift} isAdmin={isAdmin} keep={keep} />
      <IntegrationTabs name={row.name} isAdmin={isAdmin} receivesEvents={Boolean(def?.events)} hasMapping={!def || Boolean(def.mapping)} />
      {children}
    </div>
  );
}
