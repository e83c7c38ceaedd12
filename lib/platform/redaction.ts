/**
 * Secret values known to one piece of work, and the text recorded about it cleaned of them.
 *
 * External systems repeat what they were sent: a token endpoint answers 401 quoting the client
 * secret, an API puts the bearer token or its query string in an error body, a Slack-compatible
 * receiver names the webhook URL it was called on, a connection error names the URL with its key.
 * Each attempt has one redactor holding the integration's decrypted secrets and the OAuth2 access
 * tokens it obtained (execution/context.ts); every place that records text about the attempt —
 * its log lines, its error (attempt, run, run.failed event, so alerts and incidents), the
 * credentials error, the breaker's last error and the HTTP client's error messages (which reach
 * spans) — passes it through `scrub`. Alert deliveries have one built from their channel's secrets.
 *
 * A secret comes back in the form it was sent in, so each value is also matched percent-encoded,
 * form-encoded, JSON-escaped (once and twice) and in Base64. Values shorter than
 * MIN_SECRET_LENGTH are not matched: real credentials are longer, and a short value such as
 * "wrong" or "test" would be cut out of every message that happens to contain the word.
 */

export const REDACTED = '[redacted]';
export const MIN_SECRET_LENGTH = 8;

/** The forms a secret takes on the wire and in recorded text. */
function encodings(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  return [
    value,
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    json,
    JSON.stringify(json).slice(1, -1),
    Buffer.from(value, 'utf8').toString('base64'),
    Buffer.from(value, 'utf8').toString('base64url'),
  ];
}

export class SecretRedactor {
  readonly #values = new Set<string>();
  #pattern: RegExp | null | undefined = null;

  constructor(values: Iterable<string | null | undefined> = []) {
    this.add(...values);
  }

  /** Registers secret values (blank, missing and too short ones are ignored). Returns this. */
  add(...values: (string | null | undefined)[]): this {
    for (const value of values) {
      if (typeof value !== 'string' || value.trim().length < MIN_SECRET_LENGTH) continue;
      for (const form of encodings(value)) {
        if (form.length >= MIN_SECRET_LENGTH && !this.#values.has(form)) {
          this.#values.add(form);
          this.#pattern = undefined;
        }
      }
    }
    return this;
  }

  /** True when no value is registered (scrub returns its input). */
  get empty(): boolean {
    return this.#values.size === 0;
  }

  /** `text` with every registered value, in any of its forms, replaced by [redacted]. */
  scrub(text: string): string {
    const pattern = this.#compiled();
    return pattern ? text.replace(pattern, REDACTED) : text;
  }

  /** A JSON value with its strings (keys included) scrubbed. */
  scrubJson(value: unknown): unknown {
    if (this.empty) return value;
    if (typeof value === 'string') return this.scrub(value);
    if (Array.isArray(value)) return value.map((v) => this.scrubJson(v));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.scrub(k), this.scrubJson(v)]));
    }
    return value;
  }

  /**
   * `error` with its message and stack scrubbed in place, so it keeps its class (callers tell a
   * stale job or a database outage by it): for an error the platform itself fails with while
   * recording an attempt, which the worker's log prints whole. Anything else is returned as it is.
   */
  scrubError<T>(error: T): T {
    if (this.empty) return error;
    // Its causes too: a failed statement's message is its SQL, what the database said is its cause.
    let current: unknown = error;
    for (let depth = 0; depth < 8 && current instanceof Error; depth++, current = current.cause) {
      try {
        current.message = this.scrub(current.message);
        if (typeof current.stack === 'string') current.stack = this.scrub(current.stack);
        const params = (current as { params?: unknown }).params;
        if (Array.isArray(params))
          (current as { params?: unknown }).params = params.map((p) => (typeof p === 'string' ? this.scrub(p) : p));
      } catch {
        // A frozen error or a getter-only message: left as it is (its class matters more).
      }
    }
    return error;
  }

  #compiled(): RegExp | null {
    if (this.#pattern !== undefined) return this.#pattern;
    // Longest first: a value is replaced whole, not a shorter one inside it first.
    const forms = [...this.#values].sort((a, b) => b.length - a.length);
    this.#pattern = forms.length ? new RegExp(forms.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : null;
    return this.#pattern;
  }
}
