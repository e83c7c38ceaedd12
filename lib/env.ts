import { z } from 'zod';
import { clip } from './platform/words';

/**
 * Process configuration, parsed once from the environment. Every entry point (web, worker,
 * scripts) calls `loadEnv()`; a missing or malformed value stops start-up with one line naming
 * the variable and what is expected. The sandbox parses its own few (sandbox/env.ts).
 */

const postgresUrl = z.string().refine((v) => /^postgres(ql)?:\/\/[^\s]+$/.test(v) && URL.canParse(v), {
  message: 'must be a postgres:// URL, e.g. postgres://user:pass@localhost:5432/junction',
});

const httpUrl = z.string().refine((v) => /^https?:\/\//.test(v) && URL.canParse(v), {
  message: 'must be an http(s):// URL',
});

const roleMap = z.string().refine((v) => v === '' || v.split(',').every((pair) => /^[^=,\s]+=(viewer|operator|admin)$/.test(pair.trim())), {
  message: "must be a comma-separated list of claim=role pairs, e.g. 'ops=operator,it=admin' (roles: viewer, operator, admin)",
});

/** A TCP port, with one message for every way a value can miss (not a number, a fraction, out of range). */
function portNumber(min = 1) {
  const message = `must be a port number from ${min} to 65535`;
  return z.coerce.number({ error: message }).int(message).min(min, message).max(65_535, message);
}

export const ZEnv = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: postgresUrl.optional(),
  /** The embedded PostgreSQL's port, when DATABASE_URL is unset (scripts/start.ts). */
  EMBEDDED_PG_PORT: portNumber().default(54_329),
  APP_URL: httpUrl.default('http://localhost:3000'),
  PORT: portNumber().default(3000),
  AUTH_SECRET: z.string().min(32, 'must be at least 32 characters (generate one with `openssl rand -base64 33`)').optional(),
  OIDC_ISSUER: httpUrl.optional(),
  OIDC_CLIENT_ID: z.string().min(1).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  OIDC_SCOPE: z
    .string()
    .regex(/(^|\s)openid(\s|$)/, "must include 'openid'")
    .default('openid email profile groups'),
  OIDC_ROLE_CLAIM: z.string().min(1).default('groups'),
  OIDC_ROLE_MAP: roleMap.default('junction-admins=admin,junction-operators=operator'),
  JUNCTION_SECRETS_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, { message: 'must be 32 bytes, base64-encoded (`openssl rand -base64 32`)' })
    .optional(),
  JUNCTION_SECRETS_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 letters, digits, - or _')
    .default('k1'),
  JUNCTION_SECRETS_OLD_KEYS: z.string().default(''),
  JUNCTION_AUDIT_KEY: z
    .string()
    .refine((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v) && Buffer.from(v, 'base64').length === 32, {
      message: 'must be 32 bytes, base64-encoded (`openssl rand -base64 32`); keep it away from the database',
    })
    .optional(),
  JUNCTION_AUDIT_ANCHOR_DIR: z.string().min(1).optional(),
  JUNCTION_AUDIT_ANCHOR_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400, 'must be at most 86400 seconds (a day)').default(300),
  JUNCTION_AUDIT_ANCHOR_BURST_ROWS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  JUNCTION_AUDIT_ANCHOR_WEBHOOK_URL: httpUrl.optional(),
  JUNCTION_AUDIT_VERIFY_INTERVAL_SECONDS: z.coerce
    .number()
    .int()
    .min(10)
    .max(7 * 86_400, 'must be at most 604800 seconds (a week)')
    .default(3600),
  JUNCTION_MIGRATE_ON_START: z
    .enum(['true', 'false'], { error: "must be 'true' or 'false'" })
    .default('true')
    .transform((v) => v === 'true'),
  SANDBOX_URL: httpUrl.default('http://localhost:4000'),
  IDP_URL: httpUrl.default('http://localhost:4001'),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  RUN_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Log lines kept per attempt (the first ones and the last ones); the rest are counted per level (lib/platform/log.ts). */
  RUN_LOG_MAX_LINES: z.coerce.number().int().min(100, 'must be at least 100').max(1_000_000, 'must be at most 1000000').default(10_000),
  ALERT_RECOVERY_HOLD_SECONDS: z.coerce.number().int().min(0).max(86_400, 'must be at most 86400 seconds (a day)').default(120),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Run jobs one fetch takes per slot (PlatformWorkerOptions.runBatchSize): above 1 for many short runs. */
  WORKER_RUN_BATCH: z.coerce.number().int().min(1, 'must be at least 1').max(64, 'must be at most 64').default(1),
  RUN_MAX_INTERRUPTIONS: z.coerce.number().int().min(1).max(1000, 'must be at most 1000').default(10),
  /** Prometheus metrics are served only with this bearer token (web: /api/metrics; worker: METRICS_PORT). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters (`openssl rand -hex 24`)').optional(),
  /** The worker's metrics port (GET /metrics), when METRICS_TOKEN is set; give each worker on one host its own. */
  METRICS_PORT: portNumber(0).default(9464),
  /**
   * The dedicated intake listener's port (`POST /hooks/<integration>` without Next.js, worker/intake.ts).
   * `npm run dev` / `npm start` start it when set; `npm run start:intake` requires it.
   */
  INTAKE_PORT: portNumber().optional(),
  /**
   * '1' when a reverse proxy in front sets X-Forwarded-For: refused webhook deliveries then record
   * its first hop. Otherwise the header is anyone's to forge and is ignored.
   */
  TRUST_PROXY: z
    .enum(['0', '1'], { error: "must be '1' (a reverse proxy in front sets X-Forwarded-For) or '0'" })
    .default('0')
    .transform((v) => v === '1'),
  /** The address the intake listener binds (all interfaces by default). */
  INTAKE_HOST: z.string().min(1).default('0.0.0.0'),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
});

export type Env = z.infer<typeof ZEnv>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseEnv(source: Record<string, string | undefined>): Env {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = ZEnv.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue.path[0] ?? 'environment');
    const got = cleaned[variable];
    const shown = got === undefined ? 'missing' : `got '${clip(got, 60, '...')}'`;
    throw new ConfigError(`Invalid configuration: ${variable} ${issue.message} (${shown})`);
  }
  const env = parsed.data;
  // `next build` evaluates modules with NODE_ENV=production but without runtime secrets.
  const building = source.NEXT_PHASE === 'phase-production-build';
  if (env.NODE_ENV === 'production' && !building) {
    for (const name of ['DATABASE_URL', 'AUTH_SECRET', 'JUNCTION_SECRETS_KEY', 'JUNCTION_AUDIT_KEY'] as const) {
      if (!env[name]) throw new ConfigError(`Invalid configuration: ${name} is required in production (missing)`);
    }
  }
  if (env.OIDC_ISSUER && !(env.OIDC_CLIENT_ID && env.OIDC_CLIENT_SECRET)) {
    throw new ConfigError('Invalid configuration: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required when OIDC_ISSUER is set (missing)');
  }
  if (env.INTAKE_PORT !== undefined && env.INTAKE_PORT === env.PORT) {
    throw new ConfigError(
      `Invalid configuration: INTAKE_PORT must differ from PORT (the web console listens there) (got '${env.INTAKE_PORT}')`,
    );
  }
  return env;
}

let cached: Env | undefined;

/** The process configuration; throws a ConfigError with a one-line message when it is invalid. */
export function loadEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** Parses role mapping "claimValue=role,..." into a Map. */
export function parseRoleMap(value: string): Map<string, 'viewer' | 'operator' | 'admin'> {
  const map = new Map<string, 'viewer' | 'operator' | 'admin'>();
  for (const pair of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [claim, role] = pair.split('=');
    map.set(claim, role as 'viewer' | 'operator' | 'admin');
  }
  return map;
}
