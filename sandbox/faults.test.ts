import { describe, expect, it } from 'vitest';
import { FaultInjector, parseFaultsEnvironment, parseSeedEnvironment, type FaultDecision } from './faults';
import { ReplyError } from './http';

function clock(start = Date.UTC(2026, 10, 1)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

function outcome(d: FaultDecision): string {
  return d.kind === 'error' ? String(d.status) : d.kind;
}

function run(injector: FaultInjector, n: number): string[] {
  return Array.from({ length: n }, () => outcome(injector.decide('accounting')));
}

const chaos = { errorRate: 0.3, timeoutRate: 0.1, rateLimit: { everyN: 9, retryAfterSeconds: 2 } };

describe('fault injector', () => {
  it('gives the k-th request the same decision for the same seed and config, another sequence for another seed', () => {
    const a = new FaultInjector(42, { accounting: chaos });
    const b = new FaultInjector(42, { accounting: chaos });
    const c = new FaultInjector(43, { accounting: chaos });
    const seqA = run(a, 300);
    expect(run(b, 300)).toEqual(seqA);
    expect(run(c, 300)).not.toEqual(seqA);
    expect(new Set(seqA)).toEqual(new Set(['pass', 'timeout', 'rate-limited', '500', '502', '503']));
    // Roughly the configured shares (exact for this seed, repeatable everywhere).
    const errors = seqA.filter((s) => /^5/.test(s)).length;
    expect(errors).toBeGreaterThan(50);
    expect(errors).toBeLessThan(110);
  });

  it('restarts the sequence when the config is set again, and keeps systems independent', () => {
    const injector = new FaultInjector(42);
    injector.set('accounting', chaos);
    injector.set('crm', chaos);
    const first = run(injector, 50);
    for (let i = 0; i < 17; i++) injector.decide('crm');
    injector.set('accounting', chaos);
    expect(run(injector, 50)).toEqual(first);
    expect(Array.from({ length: 50 }, () => outcome(injector.decide('oauth')))).toEqual(Array(50).fill('pass'));
  });

  it('counts the faults it injects by kind across config changes, until the stand-ins are reset', () => {
    const injector = new FaultInjector(42, { accounting: chaos });
    const first = run(injector, 300);
    injector.set('accounting', { outageSeconds: 60 });
    run(injector, 5);
    injector.clear('accounting');
    run(injector, 5);
    const counts = injector.snapshot().systems.accounting.injected;
    expect(counts).toEqual({
      error: first.filter((s) => /^5/.test(s)).length,
      timeout: first.filter((s) => s === 'timeout').length,
      'rate-limited': first.filter((s) => s === 'rate-limited').length,
      outage: 5,
      down: 0,
      echo: 0,
    });
    expect(injector.snapshot().systems.crm.injected).toEqual({ error: 0, timeout: 0, 'rate-limited': 0, outage: 0, down: 0, echo: 0 });
    injector.reset();
    expect(injector.snapshot().systems.accounting.injected.error).toBe(0);
  });

  it('fails every request with 503 during an outage window, with Retry-After counting down, then lets requests through', () => {
    const c = clock();
    const injector = new FaultInjector(1, {}, c.now);
    injector.set('crm', { outageSeconds: 60 });
    expect(injector.decide('crm')).toEqual({ kind: 'outage', retryAfterSeconds: 60, latencyMs: 0 });
    c.advance(59_500);
    expect(injector.decide('crm')).toEqual({ kind: 'outage', retryAfterSeconds: 1, latencyMs: 0 });
    expect(injector.snapshot().systems.crm.outageRemainingSeconds).toBe(1);
    c.advance(500);
    expect(injector.decide('crm').kind).toBe('pass');
    expect(injector.snapshot().systems.crm.outageUntil).toBeNull();
  });

  it('answers 429 on every N-th request, and beyond a burst within the window with the time left as Retry-After', () => {
    const c = clock();
    const injector = new FaultInjector(
      1,
      { oauth: { rateLimit: { everyN: 3, retryAfterSeconds: 4 } }, crm: { rateLimit: { burst: 2, retryAfterSeconds: 10 } } },
      c.now,
    );
    expect(Array.from({ length: 6 }, () => injector.decide('oauth'))).toEqual([
      { kind: 'pass', latencyMs: 0 },
      { kind: 'pass', latencyMs: 0 },
      { kind: 'rate-limited', retryAfterSeconds: 4, latencyMs: 0 },
      { kind: 'pass', latencyMs: 0 },
      { kind: 'pass', latencyMs: 0 },
      { kind: 'rate-limited', retryAfterSeconds: 4, latencyMs: 0 },
    ]);
    expect(outcome(injector.decide('crm'))).toBe('pass');
    expect(outcome(injector.decide('crm'))).toBe('pass');
    c.advance(3_000);
    expect(injector.decide('crm')).toEqual({ kind: 'rate-limited', retryAfterSeconds: 7, latencyMs: 0 });
    c.advance(7_000);
    expect(outcome(injector.decide('crm'))).toBe('pass');
  });

  it('keeps a system down until its faults are cleared', () => {
    const injector = new FaultInjector(1, { oauth: { down: true, latencyMs: 20 } });
    expect(injector.decide('oauth')).toEqual({ kind: 'down', latencyMs: 20 });
    injector.clear('oauth');
    expect(injector.decide('oauth').kind).toBe('pass');
    expect(injector.snapshot().systems.oauth.config).toBeNull();
  });

  it('refuses invalid configs with a 400 naming the field', () => {
    const injector = new FaultInjector(1);
    const message = (input: unknown) => {
      try {
        injector.set('crm', input);
      } catch (error) {
        expect(error).toBeInstanceOf(ReplyError);
        expect((error as ReplyError).reply.status).toBe(400);
        return (error as ReplyError).message;
      }
      throw new Error('expected a refusal');
    };
    expect(message({ errorRate: 1.5 })).toBe("Invalid faults for 'crm': errorRate must be between 0 and 1");
    expect(message({ latency: 100 })).toBe("Invalid faults for 'crm': latency is not a known field; remove it");
    expect(message({ rateLimit: { retryAfterSeconds: 3 } })).toMatch(/^Invalid faults for 'crm': rateLimit needs everyN/);
    expect(message({ rateLimit: { burst: 5, retryAfterSeconds: 0 } })).toMatch(
      /rateLimit\.retryAfterSeconds must be at least 1 second with burst/,
    );
    expect(message({ down: 'yes' })).toMatch(/^Invalid faults for 'crm': down /);
    expect(injector.snapshot().systems.crm.config).toBeNull();
  });
});

describe('fault environment', () => {
  it('reads SANDBOX_FAULTS by system and SANDBOX_SEED', () => {
    expect(parseFaultsEnvironment('{"accounting":{"errorRate":0.2},"oauth":{"down":true}}')).toEqual({
      accounting: { errorRate: 0.2, latencyMs: 0, timeoutRate: 0, outageSeconds: 0, down: false },
      oauth: { errorRate: 0, latencyMs: 0, timeoutRate: 0, outageSeconds: 0, down: true },
    });
    expect(parseFaultsEnvironment(undefined)).toBeUndefined();
    expect(parseSeedEnvironment('1234')).toBe(1234);
    expect(parseSeedEnvironment('')).toBeUndefined();
  });

  it('names the variable and the field when the environment is wrong', () => {
    expect(() => parseFaultsEnvironment('{accounting')).toThrow(/^SANDBOX_FAULTS is not valid JSON/);
    expect(() => parseFaultsEnvironment('{"ledger":{}}')).toThrow(
      'SANDBOX_FAULTS is invalid: ledger is not a known field; remove it (systems: oauth, accounting, crm)',
    );
    expect(() => parseFaultsEnvironment('{"crm":{"timeoutRate":-1}}')).toThrow(/crm\.timeoutRate must be between 0 and 1/);
    expect(() => parseSeedEnvironment('abc')).toThrow(/SANDBOX_SEED must be an integer/);
  });
});
