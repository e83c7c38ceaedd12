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
    expect(() =>
      parseEnv({ NODE_ENV: 'production', DATABASE_URL: 'postgres://localhost/j', AUTH_SECRET: 'x'.repeat(40) }),
    ).toThrow(/JUNCTION_SECRETS_KEY is required in production/);
  });

  it('refuses a secrets key that is not 32 bytes', () => {
    expect(() => parseEnv({ JUNCTION_SECRETS_KEY: Buffer.alloc(16).toString('base64') })).toThrow(/JUNCTION_SECRETS_KEY must be 32 bytes/);
  });

  it('requires client credentials with an external issuer', () => {
    expect(() => parseEnv({ OIDC_ISSUER: 'https://login.example.com' })).toThrow(/OIDC_CLIENT_ID and OIDC_CLIENT_SECRET/);
  });

  it('refuses an unknown role in the role map', () => {
    expect(() => parseEnv({ OIDC_ROLE_MAP: 'ops=superuser' })).toThrow(/OIDC_ROLE_MAP/);
    expect(parseRoleMap('ops=operator, it=admin')).toEqual(new Map([['ops', 'operator'], ['it', 'admin']]));
  });
});
