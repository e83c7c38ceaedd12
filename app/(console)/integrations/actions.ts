'use server';

import { z } from 'zod';
import { openBreaker, pauseIntegration, resetBreaker, resumeIntegration } from '@/lib/platform/triggers/triggers';
import { defineAction } from '@/lib/server/action';
import { getBoss } from '@/lib/server/boss';
import { getDb } from '@/lib/server/db';

const ZName = z.object({ integration: z.string().min(1).max(100) });

export const pauseAction = defineAction({
  role: 'operator',
  name: 'pause',
  input: ZName,
  handler: async (input, { user, correlationId }) => {
    await pauseIntegration(getDb(), await getBoss(), { integration: input.integration, by: user.email || user.name, correlationId });
    return { integration: input.integration };
  },
});

export const resumeAction = defineAction({
  role: 'operator',
  name: 'resume',
  input: ZName,
  handler: async (input, { user, correlationId }) => {
    await resumeIntegration(getDb(), await getBoss(), { integration: input.integration, by: user.email || user.name, correlationId });
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
