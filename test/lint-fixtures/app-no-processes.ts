// lint as: app/api/fixture/route.ts
// app/ reaches the other processes over HTTP or through the database, never by import.
export { runNow } from '@/lib/platform/triggers/triggers';
export { getDb } from '../../../lib/server/db';
export { startStandIns } from '@/sandbox/stand-ins'; // rejected
export { DEMO_CRM_API_KEY } from '../../../sandbox/demo-credentials'; // rejected
import '../../../worker/index'; // rejected
export { startEmbeddedPostgres } from '@/scripts/embedded-postgres'; // rejected
