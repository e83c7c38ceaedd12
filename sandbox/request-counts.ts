/**
 * Per-system request counters for `GET /_admin/requests`: every request that reached a system
 * (faulted ones included), its answers by status, and requests whose client hung up first.
 */

export const COUNTED_SYSTEMS = ['oauth', 'accounting', 'crm', 'catcher'] as const;
export type CountedSystem = (typeof COUNTED_SYSTEMS)[number];

export interface SystemRequestCounts {
  total: number;
  byStatus: Record<string, number>;
  /** The client gave up before an answer (e.g. during an injected timeout). */
  aborted: number;
}

export type RequestCountsSnapshot = Record<CountedSystem, SystemRequestCounts>;

export class RequestCounts {
  #counts = RequestCounts.#empty();

  static #empty(): RequestCountsSnapshot {
    return Object.fromEntries(COUNTED_SYSTEMS.map((s) => [s, { total: 0, byStatus: {}, aborted: 0 }])) as RequestCountsSnapshot;
  }

  arrived(system: CountedSystem): void {
    this.#counts[system].total++;
  }

  answered(system: CountedSystem, status: number): void {
    const by = this.#counts[system].byStatus;
    by[status] = (by[status] ?? 0) + 1;
  }

  aborted(system: CountedSystem): void {
    this.#counts[system].aborted++;
  }

  snapshot(): RequestCountsSnapshot {
    return structuredClone(this.#counts);
  }

  reset(): void {
    this.#counts = RequestCounts.#empty();
  }
}
