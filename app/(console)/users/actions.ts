'use server';

import { z } from 'zod';
import { roleEnum } from '@/db/schema';
import { updateUser } from '@/lib/auth/users';
import { defineAction } from '@/lib/server/action';
import { getDb } from '@/lib/server/db';

export const updateUserAction = defineAction({
  role: 'admin',
  input: z.object({
    userId: z.string().uuid('That is not a user id.'),
    role: z.enum(roleEnum.enumValues).optional(),
    disabled: z.boolean().optional(),
  }),
  handler: async (input, { user, correlationId }) => {
    const after = await updateUser(getDb(), { ...input, actor: user.email || user.name, correlationId });
    return { id: after.id, role: after.role, disabled: after.disabled };
  },
});
