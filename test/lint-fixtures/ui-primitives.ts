// lint as: components/ui/fixture.tsx
// components/ui holds primitives: they import only each other.
export { cn } from './utils';
export { RunStatusBadge } from '../runs/status-badge'; // rejected
export { describeCron } from '@/lib/platform/triggers/cron'; // rejected
export { retryRunAction } from '@/app/(console)/runs/actions'; // rejected
