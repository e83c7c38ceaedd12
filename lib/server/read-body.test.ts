import { describe, expect, it } from 'vitest';
import { BodyTimeoutError } from '../platform/intake/body-deadline';
import { readBodyUpTo } from './read-body';

/**
 * The console's body reader (the Next.js webhook route's, app/hooks/[integration]/route.ts) gives up
 * on a body that stalls or trickles at its deadline, as the intake listener does (body-timeout.test.ts
 * proves the 408 both answer). Before: it waited on a stalled body for as long as the socket stayed open.
 */

function requestOf(body: ReadableStream<Uint8Array>): Request {
  return new Request('http://localhost/hooks/x', { method: 'POST', body, duplex: 'half' } as RequestInit);
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('readBodyUpTo', () => {
  it('throws BodyTimeoutError at the deadline on a body that stalls', async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes('{"a":1'));
      },
    });
    const started = Date.now();
    const error = await readBodyUpTo(requestOf(stalled), 1024, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyTimeoutError);
    expect(error).toMatchObject({ timeoutMs: 300, received: 6 });
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 10_000);

  it('is not kept alive by a body that trickles a byte at a time', async () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const trickle = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(() => controller.enqueue(bytes(' ')), 50);
      },
      cancel() {
        clearInterval(timer);
      },
    });
    const started = Date.now();
    const error = await readBodyUpTo(requestOf(trickle), 1024, { timeoutMs: 400 }).catch((e: unknown) => e);
    clearInterval(timer);
    expect(error).toBeInstanceOf(BodyTimeoutError);
    expect((error as BodyTimeoutError).received).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(2_000);
  }, 10_000);

  it('still reads a whole body, and answers null past the limit, within the deadline', async () => {
    const whole = new Request('http://localhost/hooks/x', { method: 'POST', body: '{"a":1}' });
    expect((await readBodyUpTo(whole, 1024, { timeoutMs: 1_000 }))?.toString()).toBe('{"a":1}');
    const long = new Request('http://localhost/hooks/x', { method: 'POST', body: 'x'.repeat(2048) });
    expect(await readBodyUpTo(long, 1024, { timeoutMs: 1_000 })).toBeNull();
  });
});
