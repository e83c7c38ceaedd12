// lint as: worker/fixture.ts
// The worker process runs lib/platform; it never loads the web layer.
export { startPlatformWorker } from '../lib/platform/execution/worker';
export { integrations } from '../lib/integrations';
export { loadEnv } from '../lib/env';
export { getDb } from '../lib/server/db'; // rejected
export { authorize } from '@/lib/auth/guards'; // rejected
export { retryRunAction } from '../app/(console)/runs/actions'; // rejected
export { RunStatusBadge } from '@/components/runs/status-badge'; // rejected
