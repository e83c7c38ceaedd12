'use server';

import { z } from 'zod';
import { AppError, refusalError } from '@/lib/platform/errors';
import { getIntegrationConfig, updateIntegrationConfig } from '@/lib/platform/governance/config';
import { parseMappingDraft, parseMappingToSave, previewMapping, type Mapping } from '@/lib/platform/mapping';
import { defineAction } from '@/lib/server/action';
import { getDb } from '@/lib/server/db';
import { getKeyring } from '@/lib/server/keyring';
import { getRegistry } from '@/lib/server/registry';

/**
 * The draft is checked in the handler (parseMappingDraft), so a refusal names the field and the
 * limit; a save also names a row without a target or a target two rows write, as the editor does.
 */
function draftOrRefusal(draft: ReturnType<typeof parseMappingDraft>): Mapping {
  if (!draft.ok) throw new AppError('invalid_input', draft.message, { fieldErrors: draft.fieldErrors });
  return draft.mapping;
}

/** Live preview of a draft mapping on the integration's sample records. Nothing is saved. */
export const previewMappingAction = defineAction({
  role: 'admin',
  input: z.object({ integration: z.string().min(1).max(100), mapping: z.unknown() }),
  handler: async ({ integration, mapping }) => {
    const def = getRegistry().get(integration);
    if (!def?.mapping) throw new AppError('not_found', `${integration} has no field mapping.`);
    return previewMapping(draftOrRefusal(parseMappingDraft(mapping, 'Not previewed')), def.mapping.sample);
  },
});

/** Saves the mapping through the config service: refused while it does not compile, audited. */
export const saveMappingAction = defineAction({
  role: 'admin',
  input: z.object({ integration: z.string().min(1).max(100), expectedVersion: z.number().int().min(1), mapping: z.unknown() }),
  handler: async ({ integration, expectedVersion, mapping: raw }, { user, correlationId }) => {
    const def = getRegistry().get(integration);
    if (!def) throw new AppError('orphaned', `${integration} is not registered in this build.`);
    const mapping = draftOrRefusal(parseMappingToSave(raw));
    const result = await updateIntegrationConfig(getDb(), {
      integration,
      expectedVersion,
      patch: { mapping },
      actor: user.email || user.name,
      correlationId,
      definition: def,
      keyring: getKeyring(),
    });
    if (!result.ok && result.code === 'stale') {
      // Refused, not merged; the mapping as it is now comes along so the editor can show it
      // beside the draft it keeps, and re-apply the draft on top.
      const latest = await getIntegrationConfig(getDb(), { integration });
      const details = latest
        ? {
            latest: {
              version: latest.version,
              updatedBy: latest.updatedBy,
              updatedAt: latest.updatedAt.toISOString(),
              mapping: latest.mapping ?? def.mapping?.defaults ?? null,
            },
          }
        : undefined;
      throw refusalError(result, details);
    }
    if (!result.ok) throw refusalError(result);
    return { version: result.version, changed: result.changed };
  },
});
