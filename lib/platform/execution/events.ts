/**
 * Platform events: what the execution core tells the rest of the platform (alerting, the
 * console). They travel as pg-boss jobs on one queue, so a consumer that is down loses nothing.
 * Dry-runs never emit events.
 */

export const PLATFORM_EVENTS_QUEUE = 'platform-events';

interface EventBase {
  /** ISO timestamp of when it happened. */
  at: string;
  correlationId?: string;
}

/**
 * Recoveries are held (alerting's recovery hold): the recovery comes back as the same event with
 * this flag once the hold has passed, and closes the incident only if nothing failed since `at`.
 */
interface RecoveryBase extends EventBase {
  confirmsRecovery?: true;
}

export type PlatformEvent =
  | (EventBase & {
      /** A run ended failed: retries exhausted, a permanent error, or the retry budget. */
      type: 'run.failed';
      integration: string;
      runId: string;
      attempts: number;
      error: string;
      errorClass: string;
      reason: 'retries_exhausted' | 'permanent' | 'retry_budget' | 'interrupted';
      startedAt: string;
      /**
       * An event run that left the integration's pending events to another run, queued meanwhile
       * (none marked failed): how many, and that run. If it fails too, its events.failed is counted
       * on this run's incident (one incident for the outage).
       */
      pendingEvents?: { count: number; runId: string };
      /**
       * The run applied the integration's inbound events (an event run, a retry of one, any run of
       * an integration with no execute): its failure is one outage with failed events (alerting
       * counts it on their incident, whichever is handled first).
       */
      appliesEvents?: true;
    })
  | (RecoveryBase & { type: 'run.succeeded'; integration: string; runId: string })
  /** `openedBy`: an operator held it open by hand (`error` is then the system's last error, if any). */
  | (EventBase & {
      type: 'breaker.opened';
      breakerKey: string;
      integrations: string[];
      error: string;
      openUntil: string | null;
      openedBy?: string;
    })
  | (RecoveryBase & { type: 'breaker.closed'; breakerKey: string; integrations: string[] })
  | (EventBase & { type: 'credentials.failing'; integration: string; error: string })
  | (RecoveryBase & { type: 'credentials.recovered'; integration: string })
  /**
   * Inbound events were marked failed: an event refused for good (PermanentError), or the pending
   * events an event run left when it failed for good (`runFailure`: one job for all of them, and
   * no run.failed beside it). They wait for a replay. `eventId`/`eventType` are the first event's;
   * `count` (default 1) how many were marked, `eventIds` the first few of them.
   * `collect`: the job stands for every refusal of the integration not yet announced (events with
   * refusal_unannounced_at set): a burst of refusals queues one such job (announceRefusals), and
   * alerting counts them when it handles it; its own event fields are the latest refusal's.
   */
  | (EventBase & {
      type: 'events.failed';
      integration: string;
      runId: string;
      eventId: string;
      eventType: string;
      reason: string;
      count?: number;
      eventIds?: string[];
      runFailure?: { attempts: number; error: string; errorClass: string; startedAt: string };
      collect?: true;
    })
  /**
   * None of the integration's events is failed any more: a run applied replayed failed events
   * (runId), or an operator dismissed the last failed one (dismissed; no run).
   */
  | (RecoveryBase & {
      type: 'events.cleared';
      integration: string;
      runId?: string;
      dismissed?: { eventId: string; by: string; reason: string };
    })
  /**
   * The scheduled full audit verification found tampering with the trail (filed under AUDIT_TRAIL),
   * or configuration changed around it (filed under AUDIT_CONFIG: its own incident, so tampering
   * found while a drift incident is open still alerts). lib/platform/governance/audit-guard.ts.
   */
  | (EventBase & {
      type: 'audit.chain_broken';
      integration: typeof AUDIT_TRAIL | typeof AUDIT_CONFIG;
      problem: string;
      /** Every finding is configuration changed outside the config service; the trail itself is intact (absent: not known, said as tampering). */
      configDriftOnly?: boolean;
      /**
       * The findings the previous verification did not report (all of them after a pass): while
       * the incident is open they are news its alert did not say, and raise an update alert.
       * Absent from events emitted before it was added: counted only, as before.
       */
      newProblems?: string[];
    })
  | (RecoveryBase & { type: 'audit.chain_verified'; integration: typeof AUDIT_TRAIL | typeof AUDIT_CONFIG });

/** How many of its events' ids an events.failed names (the count says how many there are). */
export const FAILED_EVENT_IDS = 10;

/** How many new findings an audit.chain_broken names (newProblems; its problem names every one). */
export const NEW_PROBLEMS = 20;

/** The name audit incidents are filed under (they belong to no integration). */
export const AUDIT_TRAIL = 'audit-trail';
/** The name incidents of configuration changed around the audit trail are filed under (config-drift.ts). */
export const AUDIT_CONFIG = 'audit-config';

export type PlatformEventType = PlatformEvent['type'];

/** The narrow part of pg-boss this module needs: a PgBoss instance or its transactional sender. */
export interface EventSender {
  send(queue: string, data: object, options?: object): Promise<string | null>;
}

/** The retries of every platform event's job. */
export const PLATFORM_EVENT_JOB_OPTIONS = { retryLimit: 5, retryDelay: 5, retryBackoff: true } as const;

export async function emitPlatformEvent(sender: EventSender, event: PlatformEvent, options: { startAfter?: Date } = {}): Promise<void> {
  await sender.send(PLATFORM_EVENTS_QUEUE, event, { ...PLATFORM_EVENT_JOB_OPTIONS, ...options });
}
