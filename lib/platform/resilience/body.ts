/**
 * Response bodies read from external systems, bounded. An answer's headers say nothing about its
 * body: a server can send them and then stall, drip a byte every few seconds, or stream without
 * end. A body read without bounds held the attempt (and every later run of the integration, since
 * they take turns) for ever, or filled the worker's memory.
 */

/** Statuses whose response never has a body (a Response cannot be built with one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

export interface BodyBounds {
  /** The most bytes (decoded, as the handler gets them) the body may have. */
  maxBytes: number;
  /** The error a body larger than `maxBytes` fails with. */
  tooLarge: () => Error;
  /** The error a failed read fails with (the exchange timed out, was cancelled, the connection broke). */
  failed: (error: unknown) => Promise<Error> | Error;
  /** Called once when the body is done with: read to its end, failed, or cancelled. */
  settled: () => void;
  /**
   * Called once, and waited for before the read that found the end returns, when the body is done
   * with and did not fail: read to its end, cancelled by its reader, refused as too large, or
   * absent. Not called when a read failed (`failed` is). Its error fails that read. The caller
   * counts the exchange a success here, not when the headers arrived: a server that sends its
   * headers and then stalls fails the read, and that one exchange counts once, as a failure.
   */
  ended?: () => Promise<void> | void;
  /** Called before each read from the server; what it returns is called after the read. */
  watch?: () => () => void;
}

/**
 * `response` with its body bounded: a read beyond `maxBytes` fails with `tooLarge()` (a declared
 * Content-Length beyond it fails at the first read, before anything is read), a failed read with
 * `failed(error)`. `settled` runs when the body ends, fails or is cancelled, or at once when there
 * is no body. The status, headers and URL are the response's.
 */
export function boundedResponse(response: Response, bounds: BodyBounds): Response {
  let done = false;
  const settle = () => {
    if (done) return;
    done = true;
    bounds.settled();
  };
  if (response.body === null || NULL_BODY_STATUSES.has(response.status)) {
    settle();
    // Its caller, which is waiting for this response, is the one to look at how `ended` went.
    Promise.resolve(bounds.ended?.()).catch(() => {});
    return response;
  }
  const reader = response.body.getReader();
  const declared = Number(response.headers.get('content-length') ?? NaN);
  let received = 0;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let error: Error | undefined;
        let failedRead = false;
        try {
          if (received === 0 && declared > bounds.maxBytes) {
            error = bounds.tooLarge();
          } else {
            const unwatch = bounds.watch?.();
            const chunk = await reader.read().finally(unwatch);
            if (chunk.done) {
              settle();
              await bounds.ended?.();
              controller.close();
              return;
            }
            received += chunk.value.byteLength;
            if (received > bounds.maxBytes) error = bounds.tooLarge();
            else return controller.enqueue(chunk.value);
          }
          // Too large: the rest is not read (the connection closes).
          reader.cancel(error).catch(() => {});
        } catch (readError) {
          // The end was read but `ended` failed: that is the read's error.
          if (done) error = readError as Error;
          else {
            failedRead = true;
            error = await bounds.failed(readError);
          }
        }
        const endedAsWell = !done && !failedRead;
        settle();
        if (endedAsWell) await Promise.resolve(bounds.ended?.()).catch(() => {});
        controller.error(error);
      },
      async cancel(reason) {
        settle();
        await reader.cancel(reason).catch(() => {});
        await Promise.resolve(bounds.ended?.()).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
  const bounded = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  Object.defineProperties(bounded, { url: { value: response.url }, redirected: { value: response.redirected } });
  return bounded;
}

/** At most the first `maxBytes` of a body as text; the rest is not read. '' when the read fails. */
export async function bodyPrefix(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    while (received < maxBytes) {
      const chunk = await reader.read();
      if (chunk.done) break;
      chunks.push(chunk.value);
      received += chunk.value.byteLength;
    }
  } catch {
    // What was read before the failure is still worth showing.
  } finally {
    reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(Buffer.concat(chunks).subarray(0, maxBytes));
}

/** The body as text, failing with `tooLarge()` beyond `maxBytes` (the rest is not read). */
export async function textUpTo(response: Response, maxBytes: number, tooLarge: () => Error): Promise<string> {
  if (!response.body) return '';
  if (Number(response.headers.get('content-length') ?? NaN) > maxBytes) {
    await response.body.cancel().catch(() => {});
    throw tooLarge();
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    received += chunk.value.byteLength;
    if (received > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(chunk.value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}
