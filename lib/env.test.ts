import { describe, expect, it } from 'vitest';
import { parseEnv, parseRoleMap } from './env';

describe('parseEnv', () => {
  it('applies defaults for a development start with nothing set', () => {
    const env = parseEnv({});
    expect(env.NODE_ENV).toBe('development');
    expect(env.APP_URL).toBe('http://localhost:3000');
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it('names the variable and what is expected when DATABASE_URL is malformed', () => {
    expect(() => parseEnv({ DATABASE_URL: 'not-a-url' })).toThrow(
      /^Invalid configuration: DATABASE_URL must be a postgres:\/\/ URL.*\(got 'not-a-url'\)$/,
    );
  });

  it('requires the database, auth secret and secrets key in production', () => {
    expect(() => parseEnv({ NODE_ENV: 'production', AUTH_SECRET: 'x'.repeat(40) })).toThrow(/DATABASE_URL is required in production/);
    expect(() => parseEnv({ NODE_ENV: 'production', DATABASE_URL: 'postgres://localhost/j', AUTH_SECRET: 'x'.repeat(40) })).toThrow(
      /JUNCTION_SECRETS_KEY is required in production/,
    );
  });

  it('requires the audit key in production and refuses a malformed one with one line naming it', () => {
    const production = {
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://localhost/j',
      AUTH_SECRET: 'x'.repeat(40),
      JUNCTION_SECRETS_KEY: Buffer.alloc(32, 1).toString('base64'),
    };
    expect(() => parseEnv(production)).toThrow(/^Invalid configuration: JUNCTION_AUDIT_KEY is required in production \(missing\)$/);
    expect(() => parseEnv({ ...production, JUNCTION_AUDIT_KEY: 'not a key' })).toThrow(
      /^Invalid configuration: JUNCTION_AUDIT_KEY must be 32 bytes, base64-encoded .*\(got 'not a key'\)$/,
    );
    expect(() => parseEnv({ ...production, JUNCTION_AUDIT_KEY: Buffer.alloc(16, 2).toString('base64') })).toThrow(
      /^Invalid configuration: JUNCTION_AUDIT_KEY must be 32 bytes/,
    );
    expect(parseEnv({ ...production, JUNCTION_AUDIT_KEY: Buffer.alloc(32, 2).toString('base64') }).JUNCTION_AUDIT_KEY).toBe(
      Buffer.alloc(32, 2).toString('base64'),
    );
  });

  it('switches start-up migrations off only with JUNCTION_MIGRATE_ON_START=false', () => {
    expect(parseEnv({}).JUNCTION_MIGRATE_ON_START).toBe(true);
    expect(parseEnv({ JUNCTION_MIGRATE_ON_START: 'false' }).JUNCTION_MIGRATE_ON_START).toBe(false);
    expect(() => parseEnv({ JUNCTION_MIGRATE_ON_START: 'no' })).toThrow(/JUNCTION_MIGRATE_ON_START must be 'true' or 'false'/);
  });

  it('takes run jobs one per fetch unless WORKER_RUN_BATCH asks for more, and names a bad value', () => {
    expect(parseEnv({}).WORKER_RUN_BATCH).toBe(1);
    expect(parseEnv({ WORKER_RUN_BATCH: '8' }).WORKER_RUN_BATCH).toBe(8);
    expect(() => parseEnv({ WORKER_RUN_BATCH: '0' })).toThrow(/WORKER_RUN_BATCH must be at least 1/);
    expect(() => parseEnv({ WORKER_RUN_BATCH: '500' })).toThrow(/WORKER_RUN_BATCH must be at most 64/);
  });

  it('takes the intake listener port only as a port of its own', () => {
    expect(parseEnv({}).INTAKE_PORT).toBeUndefined();
    expect(parseEnv({ INTAKE_PORT: '3100' }).INTAKE_PORT).toBe(3100);
    expect(() => parseEnv({ INTAKE_PORT: 'hooks' })).toThrow(/^Invalid configuration: INTAKE_PORT .*\(got 'hooks'\)$/);
    expect(() => parseEnv({ INTAKE_PORT: '70000' })).toThrow(/^Invalid configuration: INTAKE_PORT/);
    expect(() => parseEnv({ INTAKE_PORT: '3000' })).toThrow(/^Invalid configuration: INTAKE_PORT must differ from PORT/);
  });

  it('takes the embedded database port only as a port number', () => {
    expect(parseEnv({}).EMBEDDED_PG_PORT).toBe(54_329);
    expect(parseEnv({ EMBEDDED_PG_PORT: '55432' }).EMBEDDED_PG_PORT).toBe(55_432);
    expect(() => parseEnv({ EMBEDDED_PG_PORT: 'abc' })).toThrow(
      /^Invalid configuration: EMBEDDED_PG_PORT must be a port number from 1 to 65535 \(got 'abc'\)$/,
    );
    expect(() => parseEnv({ EMBEDDED_PG_PORT: '70000' })).toThrow(/^Invalid configuration: EMBEDDED_PG_PORT .*\(got '70000'\)$/);
    expect(() => parseEnv({ EMBEDDED_PG_PORT: '54.5' })).toThrow(/^Invalid configuration: EMBEDDED_PG_PORT/);
  });

  it('refuses a secrets key that is not 32 bytes', () => {
    expect(() => parseEnv({ JUNCTION_SECRETS_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/JUNCTION_SECRETS_KEY must be 32 bytes/);
  });

  it('requires client credentials with an external issuer', () => {
    expect(() => parseEnv({ OIDC_ISSUER: 'https://login.example.com' })).toThrow(/OIDC_CLIENT_ID and OIDC_CLIENT_SECRET/);
  });

  it('refuses an unknown role in the role map', () => {
    expect(() => parseEnv({ OIDC_ROLE_MAP: 'ops=superuser' })).toThrow(/OIDC_ROLE_MAP/);
    expect(parseRoleMap('ops=operator, it=admin')).toEqual(
      new Map([
        ['ops', 'operator'],
        ['it', 'admin'],
      ]),
    );
  });
});
