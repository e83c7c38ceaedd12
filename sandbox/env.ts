import { z } from 'zod';

/**
 * The sandbox process's configuration. The sandbox stands in for systems outside Junction, so it
 * shares no code with it (lib/env included): it parses the few variables it needs here, with the
 * same one-line message naming the variable when one is malformed.
 */

const httpUrl = z.string().refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), { message: 'must be an http(s):// URL' });

const port = z
  .string()
  .refine((v) => /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535, { message: 'must be a port number (1-65535)' })
  .transform(Number);

const ZSandboxEnv = z.object({
  /** The console's public URL: the identity provider's redirect target. */
  APP_URL: httpUrl.default('http://localhost:3000'),
  /** Where the stand-ins listen (its port is used). */
  SANDBOX_URL: httpUrl.default('http://localhost:4000'),
  /** Where the local identity provider listens (its port is used). */
  IDP_URL: httpUrl.default('http://localhost:4001'),
  /** Set when Junction signs in against a real identity provider: the local one is not started. */
  OIDC_ISSUER: httpUrl.optional(),
  SANDBOX_SMTP_PORT: port.default(2525),
});

export type SandboxEnv = z.infer<typeof ZSandboxEnv>;

export class SandboxConfigError extends Error {
  override name = 'SandboxConfigError';
}

export function parseSandboxEnv(source: Record<string, string | undefined>): SandboxEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ZSandboxEnv.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const variable = String(issue.path[0] ?? 'environment');
  const got = cleaned[variable];
  const shown = got === undefined ? 'missing' : `got '${got.length > 60 ? `${got.slice(0, 57)}...` : got}'`;
  throw new SandboxConfigError(`Invalid configuration: ${variable} ${issue.message} (${shown})`);
}
