'use server';

import { z } from 'zod';
import { AppError } from '@/lib/platform/errors';
import { dismissFailedEvent, ZDismissReason } from '@/lib/platform/intake/dismiss';
import { EVENT_STATUSES, replayEvents } from '@/lib/platform/intake/events-read';
import { addWebhookSecret, revokeWebhookSecret } from '@/lib/platform/intake/secrets';
import { defineAction } from '@/lib/server/action';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';
import { getKeyring } from '@/lib/server/keyring';
import { getRegistry } from '@/lib/server/registry';

const ZName = z.string().min(1).max(100);

function receiving(integration: string) {
  const def = getRegistry().get(integration);
  if (!def?.events) throw new AppError('not_found', `${integration} does not receive events`);
  return def;
}

/** Replays one event or every event matching a filter (operator); audited, applied by an event run. */
export const replayEventsAction = defineAction({
  role: 'operator',
  input: z
    .object({
      integration: ZName,
      eventIds: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
      filter: z
        .object({ status: z.enum(EVENT_STATUSES).optional(), type: z.string().max(200).optional(), q: z.string().max(200).optional() })
        .strict()
        .optional(),
      reason: z.string().trim().max(500).optional(),
    })
    .strict()
    .refine((v) => Boolean(v.eventIds) !== Boolean(v.filter), { message: 'give either eventIds or a filter', path: ['eventIds'] }),
  handler: async (input, { user, correlationId }) => {
    const def = receiving(input.integration);
    return replayEvents(getDb(), await getBoss(), {
      integration: input.integration,
      anyTrigger: !def.execute,
      eventIds: input.eventIds,
      filter: input.filter,
      actor: user.email || user.name,
      reason: input.reason || undefined,
      correlationId,
    });
  },
});

/**
 * Dismisses a failed event that can never be applied (operator, like Replay): a reason is required;
 * audited with the action's correlation id; closes the events_failed incident when none is left.
 */
export const dismissEventAction = defineAction({
  role: 'operator',
  name: 'events.dismiss',
  input: z.object({ integration: ZName, eventId: z.string().min(1).max(200), reason: ZDismissReason }).strict(),
  handler: async (input, { user, correlationId }) => {
    receiving(input.integration);
    return dismissFailedEvent(getDb(), await getBoss(), {
      integration: input.integration,
      eventId: input.eventId,
      reason: input.reason,
      actor: user.email || user.name,
      correlationId,
    });
  },
});

/** Adds a signing secret (admin): the given value, or a generated one returned once. */
export const addWebhookSecretAction = defineAction({
  role: 'admin',
  input: z
    .object({
      integration: ZName,
      label: z.string().trim().min(1, 'is required: name the secret, e.g. provider, 2026-12').max(100, 'must be at most 100 characters'),
      value: z.string().max(512).optional(),
    })
    .strict(),
  handler: async (input, { user }) => {
    const def = receiving(input.integration);
    return addWebhookSecret(getDb(), getKeyring(), { def, label: input.label, value: input.value || undefined, actor: user.email });
  },
});

export const revokeWebhookSecretAction = defineAction({
  role: 'admin',
  input: z.object({ integration: ZName, id: z.string().uuid() }).strict(),
  handler: async (input, { user }) => {
    receiving(input.integration);
    await revokeWebhookSecret(getDb(), { integration: input.integration, id: input.id, actor: user.email });
    return { revoked: true };
  },
});
