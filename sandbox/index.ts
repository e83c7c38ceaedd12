import { DEMO_CRM_API_KEY } from './demo-credentials';
import { parseSandboxEnv, SandboxConfigError } from './env';
import { startIdentityProvider } from './idp';
import { standInsOptionsFromEnvironment, startStandIns } from './stand-ins';

/**
 * The sandbox process: local stand-ins for everything outside Junction, for the demo and tests:
 * the OpenID Connect identity provider, the OAuth2 token server, the accounting and CRM APIs, and
 * the webhook/Slack/SMTP catchers, with fault injection (SANDBOX_FAULTS, SANDBOX_SEED, or the
 * admin endpoints under /_admin).
 */
async function main() {
  const env = parseSandboxEnv(process.env);
  const closers: (() => Promise<void>)[] = [];
  if (!env.OIDC_ISSUER) {
    const idp = await startIdentityProvider({ port: Number(new URL(env.IDP_URL).port), appUrl: env.APP_URL });
    closers.push(idp.close);
    console.log(`identity provider at ${idp.issuer}`);
  }
  const standIns = await startStandIns({
    port: Number(new URL(env.SANDBOX_URL).port),
    smtpPort: env.SANDBOX_SMTP_PORT,
    crmApiKey: DEMO_CRM_API_KEY,
    ...standInsOptionsFromEnvironment(),
  });
  closers.push(standIns.close);
  console.log(`stand-ins at ${standIns.url} (OAuth2, accounting, CRM, catchers; SMTP on ${standIns.smtpPort})`);
  const stop = async () => {
    await Promise.allSettled(closers.map((close) => close()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((error) => {
  console.error(error instanceof SandboxConfigError ? error.message : error);
  process.exit(1);
});
