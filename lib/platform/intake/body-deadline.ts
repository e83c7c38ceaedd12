/**
 * How long a webhook sender has to deliver a body, on both servers that carry
 * `POST /hooks/<integration>` (the Next.js route through lib/server/read-body.ts, the intake
 * listener through its own reader): a deadline from the moment the body is first read, not an idle
 * timeout, so a body that stalls or trickles (a byte a second, never finishing) is cut at the same
 * bound. The intake answers 408 and records the refusal (intake.ts).
 */
export const WEBHOOK_BODY_TIMEOUT_MS = 30_000;

/** Thrown by a body reader whose body did not end within its deadline; the intake answers 408. */
export class BodyTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    /** Bytes received before the deadline. */
    readonly received: number,
  ) {
    super(`the body did not arrive within ${timeoutMs / 1000} s (${received} bytes received)`);
    this.name = 'BodyTimeoutError';
  }
}
