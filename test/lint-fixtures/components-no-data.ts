// lint as: components/runs/fixture.tsx
// Feature components get their data from pages and server actions: no database, no worker.
export type { RunStatus } from '@/db/schema';
export { retryRunAction } from '@/app/(console)/runs/actions';
export { Button } from '../ui/button';
export { runs } from '@/db/schema'; // rejected
export { connect } from '../../db/client'; // rejected
import '../../worker/index'; // rejected
export { startStandIns } from '@/sandbox/stand-ins'; // rejected
