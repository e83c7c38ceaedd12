// lint as: lib/platform/fixture.ts
// lib/platform is the shared layer: it imports only lib/platform, db and lib/env.
export { describeCron } from './triggers/cron';
export type { Database } from '../../db/client';
export type { Env } from '../env';
export { RunStatusBadge } from '../../components/runs/status-badge'; // rejected
export { retryRunAction } from '@/app/(console)/runs/actions'; // rejected
export { integrations } from '../integrations'; // rejected
export type { IntegrationDefinition } from '@/lib/integrations'; // rejected
export { getDb } from '../server/db'; // rejected
export type { Role } from '../auth/roles'; // rejected
import '../../worker/index'; // rejected
export { startStandIns } from '../../sandbox/stand-ins'; // rejected
export const load = () => import('../../scripts/embedded-postgres'); // rejected
