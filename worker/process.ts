import { ConfigError } from '../lib/env';

/**
 * What every long-running process of worker/ does around its work: one graceful stop on the first
 * SIGTERM or SIGINT, then exit 0; a start-up failure printed (a ConfigError as its one line) with
 * exit 1.
 */

export function onStopSignals(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void stop(signal).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}

export function runMain(main: () => Promise<void>): void {
  main().catch((error) => {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(1);
  });
}
