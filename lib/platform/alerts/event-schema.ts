import { z } from 'zod';
import { AUDIT_CONFIG, AUDIT_TRAIL, FAILED_EVENT_IDS, NEW_PROBLEMS, type PlatformEvent } from '../execution/events';

/**
 * The platform event contract (events.ts) checked at alerting's boundary: a job payload on the
 * platform-events queue is data from another process. Dry-runs never emit events; a payload that
 * claims to be about one is refused, so a dry-run can never alert even through a buggy emitter.
 */

const isoTime = z.iso.datetime({ offset: true, error: 'must be an ISO timestamp' });
const base = { at: isoTime, correlationId: z.string().optional() };
const name = z.string().min(1);
/** A held recovery coming back (see events.ts). */
const recovery = { ...base, confirmsRecovery: z.literal(true).optional() };

export const ZPlatformEvent = z.discriminatedUnion(
  'type',
  [
    z.object({
      ...base,
      type: z.literal('run.failed'),
      integration: name,
      runId: z.string().min(1),
      attempts: z.number().int().min(0),
      error: z.string(),
      errorClass: z.string(),
      reason: z.enum(['retries_exhausted', 'permanent', 'retry_budget', 'interrupted']),
      startedAt: isoTime,
      pendingEvents: z.object({ count: z.number().int().min(1), runId: z.string().min(1) }).optional(),
      appliesEvents: z.literal(true).optional(),
    }),
    z.object({ ...recovery, type: z.literal('run.succeeded'), integration: name, runId: z.string().min(1) }),
    z.object({
      ...base,
      type: z.literal('breaker.opened'),
      breakerKey: name,
      integrations: z.array(name),
      error: z.string(),
      openUntil: isoTime.nullable(),
      openedBy: z.string().min(1).max(320).optional(),
    }),
    z.object({ ...recovery, type: z.literal('breaker.closed'), breakerKey: name, integrations: z.array(name) }),
    z.object({ ...base, type: z.literal('credentials.failing'), integration: name, error: z.string() }),
    z.object({ ...recovery, type: z.literal('credentials.recovered'), integration: name }),
    z.object({
      ...base,
      type: z.literal('events.failed'),
      integration: name,
      runId: z.string().min(1),
      eventId: z.string().min(1),
      eventType: z.string(),
      reason: z.string(),
      count: z.number().int().min(1).optional(),
      eventIds: z.array(z.string().min(1)).max(FAILED_EVENT_IDS).optional(),
      runFailure: z.object({ attempts: z.number().int().min(0), error: z.string(), errorClass: z.string(), startedAt: isoTime }).optional(),
      collect: z.literal(true).optional(),
    }),
    z.object({
      ...recovery,
      type: z.literal('events.cleared'),
      integration: name,
      runId: z.string().min(1).optional(),
      dismissed: z.object({ eventId: z.string().min(1), by: z.string().min(1), reason: z.string() }).optional(),
    }),
    z.object({
      ...base,
      type: z.literal('audit.chain_broken'),
      integration: z.enum([AUDIT_TRAIL, AUDIT_CONFIG]),
      problem: z.string().min(1),
      configDriftOnly: z.boolean().optional(),
      newProblems: z.array(z.string().min(1)).max(NEW_PROBLEMS).optional(),
    }),
    z.object({ ...recovery, type: z.literal('audit.chain_verified'), integration: z.enum([AUDIT_TRAIL, AUDIT_CONFIG]) }),
  ],
  {
    error:
      'type must be a known platform event (run.failed, run.succeeded, breaker.opened, breaker.closed, credentials.failing, credentials.recovered, events.failed, events.cleared, audit.chain_broken, audit.chain_verified)',
  },
);

export type ParsedEvent = { ok: true; event: PlatformEvent } | { ok: false; message: string };

export function parsePlatformEvent(data: unknown): ParsedEvent {
  if (data && typeof data === 'object' && (data as { dryRun?: unknown }).dryRun === true) {
    return { ok: false, message: 'platform event refused: it is about a dry-run, and dry-runs never alert' };
  }
  const parsed = ZPlatformEvent.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: `platform event refused: ${issue.path.join('.') || 'event'} ${issue.message}` };
  }
  return { ok: true, event: parsed.data satisfies PlatformEvent };
}
