import { notFound } from 'next/navigation';
import { z } from 'zod';
import { ConfigForm, type JsonSchemaProperty } from '@/components/config/config-form';
import { NotInBuildNotice } from '@/components/integrations/not-in-build';
import { requireUser } from '@/lib/auth/guards';
import { hasRole } from '@/lib/auth/roles';
import { listChannels } from '@/lib/platform/alerts';
import { getIntegrationConfig } from '@/lib/platform/governance/config';
import { codeAttemptTimeout } from '@/lib/platform/registry';
import { getDb } from '@/lib/server/db';
import { segmentName } from '@/lib/server/params';
import { getRegistry } from '@/lib/server/registry';

export const metadata = { title: 'Configuration' };
export const dynamic = 'force-dynamic';

export default async function ConfigPage({ params }: { params: Promise<{ name: string }> }) {
  const user = await requireUser();
  const name = segmentName((await params).name);
  const def = getRegistry().get(name);
  const [config, channels] = await Promise.all([
    getIntegrationConfig(getDb(), {
      integration: name,
      declaredSecrets: def?.secrets ?? [],
      codeAttemptTimeout: def ? codeAttemptTimeout(def) : undefined,
    }),
    listChannels(getDb()),
  ]);
  if (!config) notFound();
  const schema = def
    ? (z.toJSONSchema(def.settings, { unrepresentable: 'any' }) as { properties?: Record<string, JsonSchemaProperty>; required?: string[] })
    : {};
  return (
    <div className="flex flex-col gap-3">
      {/* Without its handler the console has no settings schema to build the form from. */}
      {def ? null : <NotInBuildNotice registered={config.registered} toDo="edit its configuration" />}
      <ConfigForm
        key={config.version}
        initial={{
          integration: name,
          version: config.version,
          updatedBy: config.updatedBy,
          updatedAt: config.updatedAt.toISOString(),
          schedule: config.schedule,
          timezone: config.timezone,
          retryDelays: config.retryDelays,
          breakerFailures: config.breakerFailures,
          breakerCooldown: config.breakerCooldown,
          retryBudget: config.retryBudget,
          attemptTimeout: config.attemptTimeout,
          resumePolicy: config.resumePolicy,
          settings: config.settings,
          alertRouting: config.alertRouting,
        }}
        channels={channels.map((c) => ({ id: c.id, name: c.name, type: c.type, enabled: c.enabled }))}
        settingsSchema={schema.properties ?? {}}
        required={schema.required ?? []}
        canEdit={hasRole(user.role, 'admin') && Boolean(def)}
        readOnlyNote={def ? undefined : 'Its configuration cannot be changed from this build of the console: see the note above.'}
      />
    </div>
  );
}
