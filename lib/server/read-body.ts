import { BodyTimeoutError } from '../platform/intake/body-deadline';

/**
 * A Fetch request's body, read up to `limit` bytes: null as soon as it is longer (reading stops
 * there and the rest is not read). Counted in bytes, not characters. Shared by the API's route
 * wrapper (route.ts) and the Next.js webhook route (app/hooks/[integration]/route.ts).
 *
 * With `timeoutMs`, a body that has not ended that long after the read began (stalled, or
 * trickling a byte at a time: a deadline, not an idle timeout) is cancelled and BodyTimeoutError
 * thrown, which the webhook intake answers 408 (WEBHOOK_BODY_TIMEOUT_MS, as the intake listener).
 */
export async function readBodyUpTo(request: Request, limit: number, options: { timeoutMs?: number } = {}): Promise<Buffer | null> {
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const { timeoutMs } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired =
    timeoutMs === undefined
      ? undefined
      : new Promise<'expired'>((resolve) => {
          timer = setTimeout(() => resolve('expired'), timeoutMs);
        });
  try {
    for (;;) {
      const read = expired ? await Promise.race([reader.read(), expired]) : await reader.read();
      if (read === 'expired') {
        // Not awaited: a stalled source may never settle its cancel.
        reader.cancel().catch(() => undefined);
        throw new BodyTimeoutError(timeoutMs!, size);
      }
      const { done, value } = read;
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => undefined);
        return null;
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks);
}
