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

/** One request as received, for following a correlation id or a trace to the external system. */
export interface RecordedRequest {
  system: CountedSystem;
  method: string;
  path: string;
  at: string;
  correlationId: string | null;
  traceparent: string | null;
}

/** The most recent requests kept for `GET /_admin/requests/recent`. */
const RECENT_LIMIT = 1000;

export class RequestCounts {
  #counts = RequestCounts.#empty();
  #recent: RecordedRequest[] = [];

  static #empty(): RequestCountsSnapshot {
    return Object.fromEntries(COUNTED_SYSTEMS.map((s) => [s, { total: 0, byStatus: {}, aborted: 0 }])) as RequestCountsSnapshot;
  }

  arrived(system: CountedSystem, request?: Omit<RecordedRequest, 'system' | 'at'>): void {
    this.#counts[system].total++;
    if (request) {
      this.#recent.push({ system, at: new Date().toISOString(), ...request });
      if (this.#recent.length > RECENT_LIMIT) this.#recent.splice(0, this.#recent.length - RECENT_LIMIT);
    }
  }

  /** Requests received lately, oldest first; optionally only those carrying one correlation id. */
  recent(filter: { correlationId?: string } = {}): RecordedRequest[] {
    return this.#recent.filter((r) => filter.correlationId === undefined || r.correlationId === filter.correlationId);
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
    this.#recent = [];
  }
}
