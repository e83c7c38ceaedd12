'use server';

import { z } from 'zod';
import { AppError, refusalError, type Refusal } from '@/lib/platform/errors';
import { getIntegrationConfig, updateIntegrationConfig, type ConfigUpdateResult } from '@/lib/platform/governance/config';
import { revertToVersion } from '@/lib/platform/governance/config-history';
import { keepDriftedConfig } from '@/lib/platform/governance/config-keep';
import { ZInstant } from '@/lib/platform/params';
import { codeAttemptTimeout } from '@/lib/platform/registry';
import { canonicalTimezone, describeCron, nextRuns, validateCron, validateTimezone } from '@/lib/platform/triggers/cron';
import { applySchedule } from '@/lib/platform/triggers/schedules';
import { defineAction } from '@/lib/server/action';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';
import { getKeyring } from '@/lib/server/keyring';
import { getRegistry } from '@/lib/server/registry';

const ZTarget = z.object({ integration: z.string().min(1).max(100), expectedVersion: z.number().int().min(1) });

function definitionOf(integration: string) {
  const def = getRegistry().get(integration);
  if (!def)
    throw new AppError('orphaned', `${integration} is not registered in this build (orphaned): its configuration cannot be edited.`);
  return def;
}

/**
 * A stale edit is refused (never merged), and the refusal carries the configuration as it is now
 * (secrets as status only), so the editor can show the other person's change beside the draft it
 * keeps and let the admin re-apply the draft on top.
 */
async function staleRefusal(integration: string, refusal: Refusal): Promise<AppError> {
  const def = getRegistry().get(integration);
  const latest = await getIntegrationConfig(getDb(), { integration, codeAttemptTimeout: def ? codeAttemptTimeout(def) : undefined });
  const details = latest
    ? {
        latest: {
          version: latest.version,
          updatedBy: latest.updatedBy,
          updatedAt: latest.updatedAt.toISOString(),
          schedule: latest.schedule,
          timezone: latest.timezone,
          retryDelays: latest.retryDelays,
          breakerFailures: latest.breakerFailures,
          breakerCooldown: latest.breakerCooldown,
          retryBudget: latest.retryBudget,
          attemptTimeout: latest.attemptTimeout,
          resumePolicy: latest.resumePolicy,
          settings: latest.settings,
          alertRouting: latest.alertRouting,
          mapping: latest.mapping,
        },
      }
    : undefined;
  return refusalError(refusal, details);
}

/** Turns the config service's answer into the action's; schedule changes reach pg-boss at once. */
async function settle(integration: string, result: ConfigUpdateResult) {
  if (!result.ok) {
    throw result.code === 'stale' ? await staleRefusal(integration, result) : refusalError(result);
  }
  if (result.changed.some((f) => f === 'schedule' || f === 'timezone')) {
    await applySchedule(getDb(), await getBoss(), { integration });
  }
  return { version: result.version, changed: result.changed };
}

/** Saves an edit of the integration's configuration: validated, version-checked, audited per field. */
export const saveConfigAction = defineAction({
  role: 'admin',
  input: ZTarget.extend({ patch: z.record(z.string(), z.unknown()) }),
  handler: async ({ integration, expectedVersion, patch }, { user, correlationId }) =>
    settle(
      integration,
      await updateIntegrationConfig(getDb(), {
        integration,
        expectedVersion,
        patch,
        actor: user.email || user.name,
        correlationId,
        definition: definitionOf(integration),
        keyring: getKeyring(),
      }),
    ),
});

/**
 * The save's checks without the save: the editor runs it before its review dialog, so the dialog
 * only opens on a draft the save accepts (field errors and a stale version come back as they would).
 */
export const checkConfigAction = defineAction({
  role: 'admin',
  input: ZTarget.extend({ patch: z.record(z.string(), z.unknown()) }),
  handler: async ({ integration, expectedVersion, patch }, { user }) => {
    const result = await updateIntegrationConfig(getDb(), {
      integration,
      expectedVersion,
      patch,
      actor: user.email || user.name,
      definition: definitionOf(integration),
      keyring: getKeyring(),
      checkOnly: true,
    });
    if (!result.ok) throw result.code === 'stale' ? await staleRefusal(integration, result) : refusalError(result);
    return { changed: result.changed };
  },
});

/** Replaces one write-only secret; the audit records that it changed, never the value. */
export const replaceSecretAction = defineAction({
  role: 'admin',
  input: ZTarget.extend({ name: z.string().min(1).max(100), value: z.string().min(1, 'Enter the new value.').max(10_000) }),
  handler: async ({ integration, expectedVersion, name, value }, { user, correlationId }) =>
    settle(
      integration,
      await updateIntegrationConfig(getDb(), {
        integration,
        expectedVersion,
        patch: { secrets: { [name]: value } },
        actor: user.email || user.name,
        correlationId,
        definition: definitionOf(integration),
        keyring: getKeyring(),
      }),
    ),
});

/**
 * Keeps the values written outside the console that the drift notice showed (`seen`) as the
 * audited configuration: one change by this admin in the trail (config-keep.ts).
 */
export const keepDriftedConfigAction = defineAction({
  role: 'admin',
  input: z.object({
    integration: z.string().min(1).max(100),
    seen: z.record(z.string().max(200), z.string().max(100_000), { error: 'seen must map field names to the values shown' }),
  }),
  handler: async ({ integration, seen }, { user, correlationId }) => {
    const result = await keepDriftedConfig(getDb(), {
      integration,
      seen,
      actor: user.email || user.name,
      correlationId,
      definition: definitionOf(integration),
    });
    if (!result.ok) throw refusalError(result);
    if (result.changed.some((f) => f === 'schedule' || f === 'timezone')) await applySchedule(getDb(), await getBoss(), { integration });
    return { version: result.version, changed: result.changed };
  },
});

/** Makes the configuration what it was at `at`, as a new audited change. */
export const revertConfigAction = defineAction({
  role: 'admin',
  input: ZTarget.extend({ at: ZInstant }),
  handler: async ({ integration, expectedVersion, at }, { user, correlationId }) =>
    settle(
      integration,
      await revertToVersion(getDb(), {
        integration,
        at,
        expectedVersion,
        actor: user.email || user.name,
        correlationId,
        definition: definitionOf(integration),
        keyring: getKeyring(),
      }),
    ),
});

/** The schedule in words and its next five runs, for the editor; the same checks the save uses. */
export const previewScheduleAction = defineAction({
  role: 'viewer',
  input: z.object({ schedule: z.string().max(200), timezone: z.string().max(100) }),
  handler: async ({ schedule, timezone }) => {
    const tz = validateTimezone(timezone);
    if (!tz.ok) return { ok: false as const, field: 'timezone', message: tz.message };
    // The name the save stores ('europe/berlin' is saved as 'Europe/Berlin').
    timezone = canonicalTimezone(timezone);
    if (!schedule.trim())
      return { ok: true as const, words: 'No schedule: runs start only when someone runs them', next: [] as string[], timezone };
    const cron = validateCron(schedule);
    if (!cron.ok) return { ok: false as const, field: 'schedule', message: cron.message };
    // `timezone`: the zone the times were evaluated in (the worker's schedule uses the same one).
    return {
      ok: true as const,
      words: describeCron(schedule),
      next: nextRuns(schedule, timezone, 5).map((d) => d.toISOString()),
      timezone,
    };
  },
});
