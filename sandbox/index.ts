import { ConfigError, loadEnv } from '../lib/env';
import { startIdentityProvider } from './idp';

/**
 * The sandbox process: local stand-ins for everything outside Junction, for the demo and tests.
 */
async function main() {
  const env = loadEnv();
  const closers: (() => Promise<void>)[] = [];
  if (!env.OIDC_ISSUER) {
    const idp = await startIdentityProvider({ port: Number(new URL(env.IDP_URL).port), appUrl: env.APP_URL });
    closers.push(idp.close);
    console.log(`[sandbox] identity provider at ${idp.issuer}`);
  }
  const stop = async () => {
    await Promise.allSettled(closers.map((close) => close()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((error) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
