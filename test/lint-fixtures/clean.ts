// lint as: lib/platform/fixture.ts
// A file that keeps every rule: lint reports nothing.
import { describeCron } from './triggers/cron';
import { parseEnv } from '../env';
import { runs } from '../../db/schema';
import type { Database } from '@/db/client';

export function described(db: Database, expression: string) {
  return { db, table: runs, text: describeCron(expression), env: parseEnv({}) };
}
