import { notFound } from 'next/navigation';
import { EmptyState } from '@/components/common/empty-state';
import { NotInBuildNotice } from '@/components/integrations/not-in-build';
import { MappingEditor, type EditorMapping } from '@/components/mapping/mapping-editor';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { getIntegrationConfig } from '@/lib/platform/governance/config';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getRegistry } from '@/lib/server/registry';
import { saveMappingAction } from './actions';

export const metadata = { title: 'Mapping' };
export const dynamic = 'force-dynamic';

export default async function MappingPage({ params }: { params: Promise<{ name: string }> }) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const def = getRegistry().get(name);
  const config = await getIntegrationConfig(getDb(), { integration: name });
  if (!config) notFound();
  if (!def) return <NotInBuildNotice registered={config.registered} toDo="edit its field mapping" />;
  if (!def.mapping) {
    return <EmptyState title="No field mapping">This integration does not use a configurable field mapping.</EmptyState>;
  }
  const mapping = (config.mapping ?? def.mapping.defaults) as EditorMapping;
  const canEdit = hasRole(user.role, 'admin');
  return (
    <div className="flex flex-col gap-3">
      <p className="text-sm text-muted-foreground">
        Each target field is a JSONata expression over the source record, with a type and a required flag. A record that fails is reported
        with the field and the reason and does not stop the others.
        {canEdit ? ' The preview runs on the integration’s sample records as you type.' : ' Only admins can edit it.'}
      </p>
      <MappingEditor
        key={config.version}
        integration={name}
        initial={mapping}
        version={config.version}
        canEdit={canEdit}
        save={saveMappingAction}
      />
    </div>
  );
}
