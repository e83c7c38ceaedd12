import 'server-only';
import { integrations } from '../integrations';
import type { Registry } from '../platform/contract';
import { buildRegistry } from '../platform/registry';

let cached: Registry | undefined;

/** The integrations this build ships, by name: the console reads their settings schemas, secrets and samples. */
export function getRegistry(): Registry {
  cached ??= buildRegistry(integrations);
  return cached;
}
