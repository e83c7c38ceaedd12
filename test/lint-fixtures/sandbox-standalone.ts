// lint as: sandbox/fixture.ts
// The sandbox stands in for the outside world: it imports nothing of Junction.
export { ReplyError } from './http';
export { DEMO_CRM_API_KEY } from './demo-credentials';
export { loadEnv } from '../lib/env'; // rejected
export { createHttpClient } from '../lib/platform/resilience/http'; // rejected
export type { Database } from '@/db/client'; // rejected
export { crmSync } from '../lib/integrations/crm-sync'; // rejected
