// lint as: lib/server/fixture.ts
// Product code never imports the test harness.
export { getDb } from './db';
export { freshDatabase } from '../../test/db'; // rejected
export { signIn } from '@/e2e/fixtures'; // rejected
