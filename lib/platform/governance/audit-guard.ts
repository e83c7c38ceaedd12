import { sql } from 'drizzle-orm';
import type { Database } from '../../../db/client';
import { databaseReason } from '../errors';
import { AUDIT_CONFIG, AUDIT_TRAIL, emitPlatformEvent, NEW_PROBLEMS, type EventSender } from '../execution/events';
import { AUDIT_VERIFY_LOCK } from './audit';
import { latestAnchor, verifyAuditAnchors, writeAuditAnchor, type AuditFinding, type AuditVerification } from './audit-anchors';

/**
 * The worker's side of audit anchoring: anchors on a schedule and after bursts of writes, and the
 * full verification on a schedule, which records its outcome for the Audit page and raises an
 * alert (platform event audit.chain_broken → incident → alert) when it fails.
 */

export interface AuditGuardOptions {
  db: Database;
  /** Where audit.chain_broken / audit.chain_verified events go (pg-boss). */
  events: EventSender;
  dir: string;
  key: Buffer;
  webhookUrl?: string;
  /** Anchor at least this often when rows were added (JUNCTION_AUDIT_ANCHOR_INTERVAL_SECONDS). */
  anchorIntervalMs: number;
  /** Anchor as soon as this many rows were added since the last anchor (JUNCTION_AUDIT_ANCHOR_BURST_ROWS). */
  burstRows: number;
  /** How often the burst condition is checked (default 10 s). */
  burstCheckMs?: number;
  /** Full verification interval (JUNCTION_AUDIT_VERIFY_INTERVAL_SECONDS). */
  verifyIntervalMs: number;
  /** How often an admin's request for a check now (requestAuditCheck) is looked for (default 5 s). */
  requestCheckMs?: number;
  log?: (message: string) => void;
}

/** One line naming everything the verification found. */
export function describeFindings(result: AuditVerification): string {
  return result.findings.map((f) => f.message).join('; ');
}

/**
 * What makes a finding the same one in two verifications. The trail's by what was found where (a
 * message may count rows appended since); configuration drift by its message, which says the
 * stored and the audited value (another direct write to the same field is news).
 */
export function findingKey(f: AuditFinding | { kind?: string; message?: string }): string {
  const finding = f as AuditFinding;
  switch (finding.kind) {
    case 'rewritten':
    case 'chain':
      return `${finding.kind}:${finding.rowId}`;
    case 'missing':
      return `missing:${finding.rowIds.join(',')}`;
    case 'truncated':
      return `truncated:${finding.anchorSeq}`;
    case 'shorter':
      return `shorter:${finding.anchorLastId}:${finding.missingRowIds.join(',')}`;
    case 'bad_anchor':
      return `bad_anchor:${finding.file}`;
    default:
      return `${String(finding.kind)}:${String(finding.message ?? '')}`;
  }
}

/**
 * The messages of `now`'s findings that `before` (the previous verification's) did not report,
 * at most NEW_PROBLEMS: the last one says how many more there are.
 */
export function newProblems(now: AuditFinding[], before: { kind?: string; message?: string }[]): string[] {
  const known = new Set(before.map(findingKey));
  const fresh = now.filter((f) => !known.has(findingKey(f))).map((f) => f.message);
  if (fresh.length <= NEW_PROBLEMS) return fresh;
  const shown = fresh.slice(0, NEW_PROBLEMS - 1);
  return [...shown, `and ${fresh.length - shown.length} more (the Audit page lists every finding)`];
}

/**
 * Runs the full verification, records it in audit_chain_state (and, when it passes, moves the
 * verified position to the head so page views check only newer rows), and emits the platform
 * events: audit.chain_broken on every failing run, audit.chain_verified when a run passes after a
 * failure (it closes the incident); the trail's problems under AUDIT_TRAIL, configuration changed
 * around it under AUDIT_CONFIG (two incidents, each alerted and closed on its own). Each failing
 * event names the findings the previous run did not (newProblems): a second direct write while the
 * incident is open is news, alerted as an update of it; the same findings again are only counted.
 */
export async function runAuditVerification(
  db: Database,
  params: { dir: string; key: Buffer; events: EventSender },
): Promise<AuditVerification | { skipped: 'another process is verifying' }> {
  return db.transaction(async (tx) => {
    const [lock] = await tx.execute<{ locked: boolean }>(sql`select pg_try_advisory_xact_lock(${AUDIT_VERIFY_LOCK}) as locked`);
    if (!lock.locked) return { skipped: 'another process is verifying' as const };
    const [before] = await tx.execute<{ full_ok: boolean | null; full_findings: { kind?: string; message?: string }[] | null }>(
      sql`select full_ok, full_findings from audit_chain_state where id = 1`,
    );
    const result = await verifyAuditAnchors(tx, params);
    const latest = result.latestAnchor;
    await tx.execute(sql`
      update audit_chain_state set
        full_checked_at = now(), full_ok = ${result.ok}, full_findings = ${JSON.stringify(result.findings)}::jsonb,
        anchor_seq = coalesce(${latest?.seq ?? null}::int, anchor_seq),
        anchor_at = coalesce(${latest?.at ?? null}::timestamptz, anchor_at),
        anchor_last_id = coalesce(${latest?.lastId ?? null}::bigint, anchor_last_id)
        ${result.ok ? sql`, verified_id = ${result.lastId}, verified_hash = ${result.head ?? 'genesis'}, verified_rows = ${result.rows}, verified_at = now()` : sql``}
      where id = 1`);
    const at = new Date().toISOString();
    // Two incidents: the trail's own problems, and configuration changed around it. Tampering found
    // while a drift incident is open opens its own and alerts, instead of counting on the other.
    const isDrift = (f: { kind?: string }) => f.kind === 'config_drift';
    const trail = result.findings.filter((f) => !isDrift(f));
    const drift = result.findings.filter(isDrift);
    const earlier = before?.full_findings ?? [];
    // A failure recorded without findings (before they were kept) is the trail's.
    const trailWasBad = before?.full_ok === false && (earlier.some((f) => !isDrift(f)) || earlier.length === 0);
    const driftWasBad = before?.full_ok === false && earlier.some(isDrift);
    if (!result.ok && (trail.length > 0 || drift.length === 0)) {
      await emitPlatformEvent(params.events, {
        type: 'audit.chain_broken',
        integration: AUDIT_TRAIL,
        problem: trail.map((f) => f.message).join('; ') || 'the full verification failed',
        configDriftOnly: false,
        newProblems: newProblems(
          trail,
          earlier.filter((f) => !isDrift(f)),
        ),
        at,
      });
    } else if (trailWasBad) {
      await emitPlatformEvent(params.events, { type: 'audit.chain_verified', integration: AUDIT_TRAIL, at });
    }
    if (drift.length > 0) {
      await emitPlatformEvent(params.events, {
        type: 'audit.chain_broken',
        integration: AUDIT_CONFIG,
        problem: drift.map((f) => f.message).join('; '),
        configDriftOnly: true,
        newProblems: newProblems(drift, earlier.filter(isDrift)),
        at,
      });
    } else if (driftWasBad) {
      await emitPlatformEvent(params.events, { type: 'audit.chain_verified', integration: AUDIT_CONFIG, at });
    }
    return result;
  });
}

export interface AuditGuard {
  stop(): Promise<void>;
}

export function startAuditGuard(options: AuditGuardOptions): AuditGuard {
  const log = options.log ?? ((message: string) => console.log(`[audit] ${message}`));
  let busy: Promise<unknown> = Promise.resolve();
  let lastAnchoredId: number | null = null;
  let stopped = false;

  const serial = (work: () => Promise<void>) => {
    busy = busy.then(async () => {
      if (stopped) return;
      try {
        await work();
      } catch (error) {
        // A database restart only skips a round.
        log(`skipped a round: ${databaseReason(error)}`);
      }
    });
    return busy;
  };

  const anchor = () =>
    serial(async () => {
      const outcome = await writeAuditAnchor(options.db, { dir: options.dir, key: options.key, webhookUrl: options.webhookUrl, log });
      if ('refused' in outcome) log(`anchor refused: ${outcome.refused}`);
      const newest = outcome.written.at(-1);
      if (newest) {
        lastAnchoredId = newest.lastId;
        log(
          `anchor #${newest.seq} written: ${newest.rows} rows up to row ${newest.lastId}${outcome.written.length > 1 ? ` (${outcome.written.length} anchors)` : ''}`,
        );
      }
    });

  const burst = () =>
    serial(async () => {
      lastAnchoredId ??= latestAnchor(options.dir, options.key).anchor?.lastId ?? 0;
      const [row] = await options.db.execute<{ n: number }>(
        sql`select count(*)::int as n from (select 1 from audit_log where id > ${lastAnchoredId} limit ${options.burstRows}) s`,
      );
      if (row.n >= options.burstRows) void anchor();
    });

  const verify = () =>
    serial(async () => {
      const result = await runAuditVerification(options.db, { dir: options.dir, key: options.key, events: options.events });
      if ('skipped' in result) return;
      if (result.ok) log(`full verification passed: ${result.rows} rows, ${result.anchors} anchors`);
      else log(`full verification FAILED: ${describeFindings(result)}`);
    });

  // An admin's "Check now" (requestAuditCheck): run when asked, not at the next scheduled time.
  // Another worker may have run it meanwhile: the verification records its time, which ends the request.
  const requested = () =>
    serial(async () => {
      const [row] = await options.db.execute<{ pending: boolean }>(
        sql`select coalesce(check_requested_at > coalesce(full_checked_at, '-infinity'), false) as pending from audit_chain_state where id = 1`,
      );
      if (row?.pending) {
        log('full verification requested from the console');
        void verify();
      }
    });

  void anchor();
  void verify();
  const timers = [
    setInterval(() => void anchor(), options.anchorIntervalMs),
    setInterval(() => void burst(), options.burstCheckMs ?? 10_000),
    setInterval(() => void verify(), options.verifyIntervalMs),
    setInterval(() => void requested(), options.requestCheckMs ?? 5_000),
  ];
  for (const timer of timers) timer.unref();
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      await busy;
    },
  };
}
