import { describe, expect, it } from 'vitest';
import { parseSandboxEnv } from './env';

describe('parseSandboxEnv', () => {
  it('applies the local defaults when nothing is set', () => {
    expect(parseSandboxEnv({})).toEqual({
      APP_URL: 'http://localhost:3000',
      SANDBOX_URL: 'http://localhost:4000',
      IDP_URL: 'http://localhost:4001',
      SANDBOX_SMTP_PORT: 2525,
    });
  });

  it('reads the ports and the external issuer, ignoring empty values and unrelated variables', () => {
    const env = parseSandboxEnv({
      SANDBOX_URL: 'http://localhost:4700',
      IDP_URL: '',
      SANDBOX_SMTP_PORT: '4702',
      OIDC_ISSUER: 'https://login.example.com',
      DATABASE_URL: 'not-a-url',
    });
    expect(env).toMatchObject({
      SANDBOX_URL: 'http://localhost:4700',
      IDP_URL: 'http://localhost:4001',
      SANDBOX_SMTP_PORT: 4702,
      OIDC_ISSUER: 'https://login.example.com',
    });
  });

  it('names the variable and what is expected when a value is malformed', () => {
    expect(() => parseSandboxEnv({ SANDBOX_URL: 'localhost:4000' })).toThrow(
      "Invalid configuration: SANDBOX_URL must be an http(s):// URL (got 'localhost:4000')",
    );
    expect(() => parseSandboxEnv({ SANDBOX_SMTP_PORT: '70000' })).toThrow(
      "Invalid configuration: SANDBOX_SMTP_PORT must be a port number (1-65535) (got '70000')",
    );
    expect(() => parseSandboxEnv({ SANDBOX_SMTP_PORT: 'smtp' })).toThrow(/^Invalid configuration: SANDBOX_SMTP_PORT must be a port number/);
  });
});
