'use server';

import { z } from 'zod';
import { AppError } from '@/lib/platform/errors';
import { openBreaker, pauseIntegration, resetBreaker, resumeIntegration } from '@/lib/platform/triggers/triggers';
import { exactTime } from '@/lib/platform/when';
import { defineAction } from '@/lib/server/action';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';

const ZName = z.object({ integration: z.string().min(1).max(100) });

/**
 * A pause or resume that found the work done by someone else (a page opened before their click):
 * refused, so the console does not report it as this person's, naming who did it and when.
 */
function alreadyDone(integration: string, state: 'paused' | 'resumed', already: { by: string; at: Date } | null | undefined): AppError {
  const who = already ? ` by ${already.by} at ${exactTime(already.at)}` : '';
  return new AppError('invalid_state', `${integration} was already ${state}${who}: nothing changed`);
}

export const pauseAction = defineAction({
  role: 'operator',
  name: 'pause',
  input: ZName,
  handler: async (input, { user, correlationId }) => {
    const result = await pauseIntegration(getDb(), await getBoss(), {
      integration: input.integration,
      by: user.email || user.name,
      correlationId,
    });
    if (!result.paused) throw alreadyDone(input.integration, 'paused', result.already);
    return { integration: input.integration };
  },
});

export const resumeAction = defineAction({
  role: 'operator',
  name: 'resume',
  input: ZName,
  handler: async (input, { user, correlationId }) => {
    const result = await resumeIntegration(getDb(), await getBoss(), {
      integration: input.integration,
      by: user.email || user.name,
      correlationId,
    });
    if (!result.resumed) throw alreadyDone(input.integration, 'resumed', result.already);
    return { integration: input.integration };
  },
});

const ZBreaker = z.object({ key: z.string().min(1).max(200) });

export const resetBreakerAction = defineAction({
  role: 'operator',
  name: 'reset_breaker',
  input: ZBreaker,
  handler: async (input, { user, correlationId }) => {
    await resetBreaker(getDb(), { key: input.key, by: user.email || user.name, boss: await getBoss(), correlationId });
    return { key: input.key };
  },
});

export const openBreakerAction = defineAction({
  role: 'operator',
  name: 'open_breaker',
  input: ZBreaker,
  handler: async (input, { user, correlationId }) => {
    await openBreaker(getDb(), { key: input.key, by: user.email || user.name, boss: await getBoss(), correlationId });
    return { key: input.key };
  },
});
