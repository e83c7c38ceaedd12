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
    // What the admin saw when deciding: a change made on a stale page is refused, not applied over another admin's.
    expectedRole: z.enum(roleEnum.enumValues, 'Send the role you saw (expectedRole): reload the page.'),
    expectedDisabled: z.boolean('Send whether the user was disabled when you looked (expectedDisabled): reload the page.'),
  }),
  handler: async (input, { user, correlationId }) => {
    const after = await updateUser(getDb(), { ...input, actor: user.email || user.name, correlationId });
    return { id: after.id, role: after.role, disabled: after.disabled };
  },
});
