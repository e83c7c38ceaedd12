'use server';

import { z } from 'zod';
import { requestAuditCheck } from '@/lib/platform/governance/audit';
import { defineAction } from '@/lib/server/action';
import { getDb } from '@/lib/server/db';

/** "Check now": the full audit verification at once instead of at its next scheduled time (admins). */
export const requestAuditCheckAction = defineAction({
  role: 'admin',
  input: z.strictObject({}, { error: 'Check now takes no arguments.' }),
  handler: async (_input, { user, correlationId }) => requestAuditCheck(getDb(), { actor: user.email || user.name, correlationId }),
});
