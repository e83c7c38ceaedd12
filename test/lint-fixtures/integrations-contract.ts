// lint as: lib/integrations/fixture/index.ts
// An integration imports only its own folder, db and lib/platform's contract surface.
export { defineIntegration } from '../../platform/contract';
export { PermanentError } from '@/lib/platform/errors';
export type { Mapping } from '../../platform/mapping';
export { customers } from '../../../db/schema';
export { crmSync } from '../crm-sync';
export { runNow } from '../../platform/triggers/triggers'; // rejected
export { getBreaker } from '@/lib/platform/resilience/breaker'; // rejected
export { getDb } from '../../server/db'; // rejected
export { loadEnv } from '../../env'; // rejected
export { startStandIns } from '@/sandbox/stand-ins'; // rejected
