import { z } from 'zod';
import { fieldErrors, parseAdminPayload } from './http';
import { streamFor } from './random';

/**
 * Fault injection for the external systems the stand-ins play. Each system has its own config and
 * its own seeded random stream, restarted whenever its config is set or cleared: the k-th request
 * after `PUT /_admin/faults/<system>` gets the same decision for the same seed and config, on any
 * machine. Outages and `burst` rate limits are windows of wall-clock time; everything else is a
 * function of k alone.
 */

export const FAULT_SYSTEMS = ['oauth', 'accounting', 'crm'] as const;
export type FaultSystem = (typeof FAULT_SYSTEMS)[number];

export const ZRateLimit = z
  .strictObject({
    everyN: z.number().int().min(1, 'must be at least 1 (1 = every request gets 429)').optional(),
    burst: z.number().int().min(1, 'must be at least 1 request per window').optional(),
    retryAfterSeconds: z.number().int().min(0, 'must be 0 or more seconds').max(3600, 'must be at most 3600 seconds').default(1),
  })
  .refine((v) => v.everyN !== undefined || v.burst !== undefined, {
    message: 'needs everyN (every N-th request gets 429) or burst (requests allowed per retryAfterSeconds window)',
  })
  .refine((v) => v.burst === undefined || v.retryAfterSeconds >= 1, {
    message: 'must be at least 1 second with burst: it is the length of the rate-limit window',
    path: ['retryAfterSeconds'],
  });

export const ZFaultConfig = z.strictObject({
  /** Share of requests answered 500, 502 or 503 before they are processed. */
  errorRate: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(0),
  /** Added to every request before it is answered. */
  latencyMs: z.number().int().min(0, 'must be 0 or more').max(120_000, 'must be at most 120000 ms').default(0),
  /** Share of requests that are processed but never answered (until the client gives up, or 30 s then 504). */
  timeoutRate: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(0),
  rateLimit: ZRateLimit.optional(),
  /** Every request fails 503 for this many seconds from the moment the config is set. */
  outageSeconds: z.number().min(0, 'must be 0 or more seconds').max(86_400, 'must be at most 86400 seconds (a day)').default(0),
  /** Every request fails 503 until the config is cleared (for 'oauth': the token endpoint is down). */
  down: z.boolean().default(false),
  /**
   * Every request is refused with `status` and an error body that repeats the credentials it carried
   * (its URL with the query string, its Authorization and X-Api-Key headers, the client_secret of a
   * token request), as careless APIs do in their error messages.
   */
  echoCredentials: z
    .strictObject({
      status: z
        .number()
        .int()
        .min(400, 'must be an HTTP error status from 400 to 599')
        .max(599, 'must be an HTTP error status from 400 to 599')
        .default(401),
    })
    .optional(),
  /**
   * CRM only, data rather than transport: contacts created or changed while it is set are stamped
   * this many seconds ahead of the CRM's clock (a node whose clock runs ahead). The API's Date header
   * and changes made after it is cleared keep the true clock, so a contact's next change can be
   * stamped before the skewed one.
   */
  clockAheadSeconds: z
    .number()
    .int()
    .min(1, 'must be at least 1 second')
    .max(31_536_000, 'must be at most 31536000 seconds (a year)')
    .optional(),
  /**
   * CRM only: the CRM's whole clock runs this many seconds behind the true one (a server whose
   * clock is slow): its Date header and the stamp of every contact created or changed while it is
   * set. Contacts created with an explicit updated_at keep it.
   */
  clockBehindSeconds: z
    .number()
    .int()
    .min(1, 'must be at least 1 second')
    .max(31_536_000, 'must be at most 31536000 seconds (a year)')
    .optional(),
  /**
   * CRM only, data rather than transport: the API shows these contacts with an updated_at that is
   * not a date-time (`garbage`: a string that is not one, `missing`: no updated_at, `null`). They
   * keep their place in the (updated_at, id) order.
   */
  unparseableUpdatedAt: z
    .strictObject({
      ids: z.array(z.string().min(1, 'must not be empty')).min(1, 'must name at least one contact id'),
      as: z.enum(['garbage', 'missing', 'null']).default('garbage'),
    })
    .optional(),
});

export type FaultConfigInput = z.input<typeof ZFaultConfig>;
export type FaultConfig = z.output<typeof ZFaultConfig>;
export type FaultConfigBySystem = Partial<Record<FaultSystem, FaultConfigInput>>;

export const ZFaultConfigBySystem = z.strictObject({
  oauth: ZFaultConfig.optional(),
  accounting: ZFaultConfig.optional(),
  crm: ZFaultConfig.optional(),
});

export type FaultDecision =
  | { kind: 'pass'; latencyMs: number }
  | { kind: 'error'; status: 500 | 502 | 503; latencyMs: number }
  | { kind: 'timeout'; latencyMs: number }
  | { kind: 'rate-limited'; retryAfterSeconds: number; latencyMs: number }
  | { kind: 'outage'; retryAfterSeconds: number; latencyMs: number }
  | { kind: 'down'; latencyMs: number }
  | { kind: 'echo'; status: number; latencyMs: number };

export interface SystemFaultState {
  config: FaultConfig | null;
  /** Requests seen since the config was set (k of the last decision). */
  requestsSinceConfig: number;
  outageUntil: string | null;
  outageRemainingSeconds: number;
  /** Faults injected into this system since the stand-ins started or were reset (configs come and go; these add up). */
  injected: InjectedCounts;
}

export type InjectedCounts = Record<Exclude<FaultDecision['kind'], 'pass'>, number>;

const noInjections = (): InjectedCounts => ({ error: 0, timeout: 0, 'rate-limited': 0, outage: 0, down: 0, echo: 0 });

export interface FaultsSnapshot {
  seed: number;
  systems: Record<FaultSystem, SystemFaultState>;
}

const ERROR_STATUSES = [500, 502, 503] as const;

interface SystemState {
  config: FaultConfig | null;
  random: () => number;
  count: number;
  outageUntil: number;
  windowStart: number;
  windowCount: number;
}

export function isFaultSystem(value: string): value is FaultSystem {
  return (FAULT_SYSTEMS as readonly string[]).includes(value);
}

/** Parses `SANDBOX_FAULTS` (JSON object by system); the error names the variable and the field. */
export function parseFaultsEnvironment(value: string | undefined): FaultConfigBySystem | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new Error(`SANDBOX_FAULTS is not valid JSON (${(error as Error).message}); expected e.g. {"accounting":{"errorRate":0.2}}`);
  }
  const result = ZFaultConfigBySystem.safeParse(parsed);
  if (!result.success) {
    const first = fieldErrors(result.error)[0];
    throw new Error(`SANDBOX_FAULTS is invalid: ${first.field} ${first.message} (systems: ${FAULT_SYSTEMS.join(', ')})`);
  }
  return result.data;
}

/** Parses `SANDBOX_SEED` (a non-negative integer). */
export function parseSeedEnvironment(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (!/^\d{1,10}$/.test(value.trim()) || Number(value) > 0xffffffff) {
    throw new Error(`SANDBOX_SEED must be an integer between 0 and 4294967295 (got '${value}')`);
  }
  return Number(value);
}

export class FaultInjector {
  readonly #systems = new Map<FaultSystem, SystemState>();
  readonly #injected = new Map<FaultSystem, InjectedCounts>();

  constructor(
    readonly seed: number,
    initial: FaultConfigBySystem = {},
    private readonly now: () => number = Date.now,
  ) {
    for (const system of FAULT_SYSTEMS) this.#systems.set(system, this.#fresh(system, null));
    for (const system of FAULT_SYSTEMS) this.#injected.set(system, noInjections());
    for (const system of FAULT_SYSTEMS) if (initial[system]) this.set(system, initial[system]);
  }

  #fresh(system: FaultSystem, config: FaultConfig | null): SystemState {
    const now = this.now();
    return {
      config,
      random: streamFor(this.seed, system),
      count: 0,
      outageUntil: config && config.outageSeconds > 0 ? now + config.outageSeconds * 1000 : 0,
      windowStart: now,
      windowCount: 0,
    };
  }

  /** Validates and applies a system's config (400 naming the field when invalid); restarts its random stream. */
  set(system: FaultSystem, input: unknown): FaultConfig {
    const config = parseAdminPayload(ZFaultConfig, input, `faults for '${system}'`);
    this.#systems.set(system, this.#fresh(system, config));
    return config;
  }

  /** Clears one system's faults, or every system's. */
  clear(system?: FaultSystem): void {
    for (const s of system ? [system] : FAULT_SYSTEMS) this.#systems.set(s, this.#fresh(s, null));
  }

  /** Clears every system's faults and the injected counts (the stand-ins' reset). */
  reset(): void {
    this.clear();
    for (const system of FAULT_SYSTEMS) this.#injected.set(system, noInjections());
  }

  /** The fault (if any) for the next request to `system`. Draws the same three numbers per request. */
  decide(system: FaultSystem): FaultDecision {
    const decision = this.#decide(system);
    if (decision.kind !== 'pass') this.#injected.get(system)![decision.kind]++;
    return decision;
  }

  #decide(system: FaultSystem): FaultDecision {
    const state = this.#systems.get(system)!;
    state.count++;
    const timeoutDraw = state.random();
    const errorDraw = state.random();
    const statusDraw = state.random();
    const config = state.config;
    if (!config) return { kind: 'pass', latencyMs: 0 };
    const latencyMs = config.latencyMs;
    const now = this.now();
    if (config.down) return { kind: 'down', latencyMs };
    if (state.outageUntil > now)
      return { kind: 'outage', retryAfterSeconds: Math.max(1, Math.ceil((state.outageUntil - now) / 1000)), latencyMs };
    if (config.echoCredentials) return { kind: 'echo', status: config.echoCredentials.status, latencyMs };
    const limit = config.rateLimit;
    if (limit?.everyN !== undefined && state.count % limit.everyN === 0) {
      return { kind: 'rate-limited', retryAfterSeconds: limit.retryAfterSeconds, latencyMs };
    }
    if (limit?.burst !== undefined) {
      const windowMs = limit.retryAfterSeconds * 1000;
      if (now - state.windowStart >= windowMs) {
        state.windowStart = now;
        state.windowCount = 0;
      }
      state.windowCount++;
      if (state.windowCount > limit.burst) {
        return { kind: 'rate-limited', retryAfterSeconds: Math.max(1, Math.ceil((state.windowStart + windowMs - now) / 1000)), latencyMs };
      }
    }
    if (timeoutDraw < config.timeoutRate) return { kind: 'timeout', latencyMs };
    if (errorDraw < config.errorRate) return { kind: 'error', status: ERROR_STATUSES[Math.floor(statusDraw * 3)], latencyMs };
    return { kind: 'pass', latencyMs };
  }

  /** The config in force for `system` (null when none is set). */
  config(system: FaultSystem): FaultConfig | null {
    return this.#systems.get(system)!.config;
  }

  snapshot(): FaultsSnapshot {
    const now = this.now();
    const systems = {} as Record<FaultSystem, SystemFaultState>;
    for (const system of FAULT_SYSTEMS) {
      const s = this.#systems.get(system)!;
      const active = s.outageUntil > now;
      systems[system] = {
        config: s.config,
        requestsSinceConfig: s.count,
        outageUntil: active ? new Date(s.outageUntil).toISOString() : null,
        outageRemainingSeconds: active ? Math.ceil((s.outageUntil - now) / 1000) : 0,
        injected: { ...this.#injected.get(system)! },
      };
    }
    return { seed: this.seed, systems };
  }
}
