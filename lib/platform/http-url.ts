import { z } from 'zod';

/**
 * What an external system's address may be: an absolute http or https URL with a host, and no
 * user name or password in it. Any other scheme (javascript:, ftp:, file:) cannot be fetched: it
 * failed every run as a network error, was retried and opened the breaker. Credentials belong in
 * the integration's secrets, not in a setting that is shown and audited in the clear.
 */
export function httpUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `uses the scheme '${url.protocol}': only http and https can be reached`;
  if (!url.hostname) return 'has no host';
  if (url.username || url.password) return "carries a user name or password: put credentials in the integration's credentials instead";
  return null;
}

/**
 * A setting holding an external system's URL, for an integration's settings schema: the message
 * ends with `example` (e.g. http://localhost:4000/crm) so the person editing knows the form.
 */
export function httpUrl(example: string) {
  return z
    .string()
    .max(2000, 'must be at most 2,000 characters')
    .superRefine((text, ctx) => {
      const problem = httpUrlProblem(text);
      if (problem) ctx.addIssue({ code: 'custom', message: `${problem}: use an http(s) URL, e.g. ${example}` });
    })
    .meta({ format: 'uri', examples: [example] });
}
