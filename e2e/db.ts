import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';

export interface E2EState {
  databaseUrl: string;
  sandboxUrl: string;
  appUrl: string;
  /** For tests that start extra worker processes against the same database. */
  secretsKey: string;
  authSecret: string;
  /** The audit anchors' key and directory of this run (required by a production-mode worker). */
  auditKey: string;
  auditAnchorDir: string;
}

/** What the start script (--e2e) wrote: the throw-away database and the sandbox it started. */
export function e2eState(): E2EState {
  return JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'test-results', 'e2e-state.json'), 'utf8')) as E2EState;
}

let sql: postgres.Sql | undefined;

/** Direct access to the e2e database, for seeding and for asserting on what the console did. */
export function db(): postgres.Sql {
  sql ??= postgres(e2eState().databaseUrl, { max: 2, onnotice: () => {} });
  return sql;
}
