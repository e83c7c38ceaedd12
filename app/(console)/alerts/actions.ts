'use server';

import { z } from 'zod';
import { createChannel, sendTestAlert, updateChannel } from '@/lib/platform/alerts';
import { refusalError } from '@/lib/platform/errors';
import { defineAction } from '@/lib/server/action';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';
import { getKeyring } from '@/lib/server/keyring';

/** The channel form's payload; the platform's ZChannelInput validates it and names bad fields. */
const ZChannelForm = z.record(z.string(), z.unknown());

export const createChannelAction = defineAction({
  role: 'admin',
  input: z.object({ input: ZChannelForm }),
  handler: async ({ input }, { user, correlationId }) => {
    const result = await createChannel(getDb(), { input, actor: user.email || user.name, keyring: getKeyring(), correlationId });
    if (!result.ok) throw refusalError(result);
    return { id: result.id };
  },
});

export const updateChannelAction = defineAction({
  role: 'admin',
  input: z.object({ id: z.string().uuid(), expectedVersion: z.number().int().min(1), input: ZChannelForm }),
  handler: async ({ id, expectedVersion, input }, { user, correlationId }) => {
    const result = await updateChannel(getDb(), {
      id,
      expectedVersion,
      input,
      actor: user.email || user.name,
      keyring: getKeyring(),
      correlationId,
    });
    if (!result.ok) throw refusalError(result);
    return { id: result.id };
  },
});

export const sendTestAlertAction = defineAction({
  role: 'operator',
  input: z.object({ channelId: z.string().uuid('That is not a channel id.') }),
  handler: async ({ channelId }, { user, correlationId }) =>
    sendTestAlert(getDb(), await getBoss(), { channelId, actor: user.email || user.name, correlationId }),
});
