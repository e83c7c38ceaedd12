'use server';

import { z } from 'zod';
import { createApiToken, revokeApiToken, ZCreateApiToken } from '@/lib/auth/api-tokens';
import { defineAction } from '@/lib/server/action';
import { getDb } from '@/lib/server/db';

/** Creates an API token; the value is in the answer, shown once and never stored. */
export const createApiTokenAction = defineAction({
  role: 'admin',
  input: ZCreateApiToken,
  handler: async (input, { user, correlationId }) => {
    const { token, value } = await createApiToken(getDb(), {
      input,
      creator: { id: user.id, actor: user.email || user.name },
      correlationId,
    });
    return { id: token.id, name: token.name, role: token.role, expiresAt: token.expiresAt.toISOString(), value };
  },
});

export const revokeApiTokenAction = defineAction({
  role: 'admin',
  input: z.object({ id: z.string().uuid('That is not a token id.') }),
  handler: async (input, { user, correlationId }) => {
    const token = await revokeApiToken(getDb(), { id: input.id, actor: user.email || user.name, correlationId });
    return { id: token.id, name: token.name };
  },
});
