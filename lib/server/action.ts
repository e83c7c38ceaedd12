import 'server-only';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Role } from '../../db/schema';
import { authorize, type SessionUser } from '../auth/guards';
import { CORRELATION_ATTRIBUTE, withSpan } from '../platform/observability/tracing';
import { errorAnswer, failureAnswer, fieldErrorsOf, unexpectedErrorAnswer, unstorableInputRefusal } from './answers';

export type ActionResult<T> =
  | { ok: true; data: T }
  | { ok: false; error: string; fieldErrors?: Record<string, string>; status?: number; details?: Record<string, unknown> };

/**
 * Every server action goes through here: session, then role, then zod, then the work. The result
 * is typed, never a raw throw; unexpected errors are logged with a reference the user can quote.
 */
export function defineAction<S extends z.ZodType, T>(options: {
  role: Role;
  /** The span name of the action's trace (`action <name>`); runs it starts continue that trace. */
  name?: string;
  input: S;
  handler: (input: z.infer<S>, ctx: { user: SessionUser; correlationId: string }) => Promise<T>;
}): (input: unknown) => Promise<ActionResult<T>> {
  return async (raw: unknown) => {
    let access: Awaited<ReturnType<typeof authorize>>;
    try {
      access = await authorize(options.role);
    } catch (error) {
      // The session could not be checked (the database failed): the typed failure with a reference.
      return { ok: false, ...unexpectedErrorAnswer(error, randomUUID(), 'action') };
    }
    if (!access.ok) return { ok: false, ...errorAnswer(access.error) };
    const refusal = unstorableInputRefusal(raw);
    if (refusal) return { ok: false, ...refusal, status: 400 };
    const parsed = options.input.safeParse(raw);
    if (!parsed.success) {
      return { ok: false, error: 'Some fields need attention.', fieldErrors: fieldErrorsOf(parsed.error), status: 400 };
    }
    const correlationId = randomUUID();
    try {
      const attributes = { [CORRELATION_ATTRIBUTE]: correlationId, 'enduser.role': access.user.role };
      const data = await withSpan(`action ${options.name ?? 'server action'}`, { attributes }, () =>
        options.handler(parsed.data, { user: access.user, correlationId }),
      );
      return { ok: true, data };
    } catch (error) {
      return { ok: false, ...failureAnswer(error, correlationId, 'action') };
    }
  };
}
