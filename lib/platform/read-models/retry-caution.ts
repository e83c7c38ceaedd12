import type { InventoryRow } from './inventory';

/**
 * What an operator should know before retrying a run of an integration that is still in trouble,
 * one sentence each, said in the retry dialogs: "crm-sync's breaker is open (opened 3 minutes ago):
 * the retry waits until it lets a request through again." `at` goes between `before` and `after`,
 * shown relative with the exact time on hover. Serializable: the server reads the inventory, the
 * dialog (a client component) shows them.
 */
export interface RetryCaution {
  integration: string;
  kind: 'breaker_open' | 'credentials_failing' | 'last_run_failed' | 'paused';
  before: string;
  /** ISO instant, or null when the sentence has no time in it. */
  at: string | null;
  after: string;
  /** last_run_failed: that run (not said when it is one of the runs being retried). */
  runId?: string;
}

/** The cautions for retrying runs of `row`'s integration at `now`; `forRuns` picks those of one retry. */
export function retryCautions(row: InventoryRow, now: Date): RetryCaution[] {
  const name = row.name;
  const cautions: RetryCaution[] = [];
  const iso = (at: Date | null) => at?.toISOString() ?? null;
  if (row.health === 'breaker_open') {
    const due = row.breakerOpenUntil && row.breakerOpenUntil.getTime() > now.getTime() ? row.breakerOpenUntil : null;
    const waits = 'the retry waits until the breaker closes.';
    cautions.push(
      row.breakerForcedOpen && !row.breakerOpenUntil
        ? {
            integration: name,
            kind: 'breaker_open',
            before: `${name}'s breaker is held open by an operator: ${waits}`,
            at: null,
            after: '',
          }
        : due
          ? {
              integration: name,
              kind: 'breaker_open',
              before: `${name}'s breaker is open, its next trial request due `,
              at: iso(due),
              after: `: ${waits}`,
            }
          : {
              integration: name,
              kind: 'breaker_open',
              before: `${name}'s breaker is open and lets one trial request through: ${waits}`,
              at: null,
              after: '',
            },
    );
  }
  if (row.credentialsFailingSince) {
    cautions.push({
      integration: name,
      kind: 'credentials_failing',
      before: `${name}'s credentials are refused by the provider (since `,
      at: iso(row.credentialsFailingSince),
      after: '): the retry fails the same way until they are fixed.',
    });
  }
  const last = row.lastRun;
  if (last?.status === 'failed') {
    cautions.push({
      integration: name,
      kind: 'last_run_failed',
      runId: last.id,
      before: `${name}'s last run failed too (`,
      at: iso(last.finishedAt ?? last.createdAt),
      after: '): unless what made it fail is fixed, the retry fails again.',
    });
  }
  if (row.paused) {
    cautions.push({
      integration: name,
      kind: 'paused',
      before: `${name} is paused: the retry runs anyway (a pause stops only its schedule).`,
      at: null,
      after: '',
    });
  }
  return cautions;
}

/**
 * The cautions that concern retrying `runs`: those of their integrations, less a failed last run
 * that is one of the runs being retried (said of another run only: one that failed since).
 */
export function cautionsFor(
  cautions: Readonly<Record<string, readonly RetryCaution[]>>,
  runs: readonly { id: string; integration: string }[],
): RetryCaution[] {
  const ids = new Set(runs.map((r) => r.id));
  const integrations = [...new Set(runs.map((r) => r.integration))].sort();
  return integrations.flatMap((name) => (cautions[name] ?? []).filter((c) => !(c.runId && ids.has(c.runId))));
}
