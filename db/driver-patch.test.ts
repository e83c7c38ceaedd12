import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../test/db';

/**
 * postgres.js 3.4.9 schedules small writes with setImmediate; when the connection closes before
 * one fires, it calls write on a null socket and throws outside any promise, which kills the
 * process (porsager/postgres#1154, #1208). A database restart took a worker down this way in CI.
 * patches/postgres+3.4.9.patch (applied by patch-package at npm install) rejects the waiting
 * query with CONNECTION_CLOSED instead. The scenario runs in a child process, since unpatched it
 * ends the process it runs in: a reserved connection whose backend is terminated, then one query.
 */
const scenario = `
  const { default: postgres } = await import('postgres');
  const url = process.env.URL;
  const admin = postgres(url, { max: 1, onnotice() {} });
  const sql = postgres(url, { max: 1, onnotice() {} });
  const reserved = await sql.reserve();
  const [{ pid }] = await reserved\`select pg_backend_pid() as pid\`;
  await admin\`select pg_terminate_backend(\${pid})\`;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const outcome = await reserved\`select 1\`.then(() => 'answered', (error) => 'rejected ' + error.code);
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.log(outcome);
  await admin.end();
  process.exit(0);
`;

let t: TestDatabase;
beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(() => t.drop());

describe('the patched database driver', () => {
  it('rejects a query on a connection whose backend died instead of crashing the process', () => {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', scenario], {
      cwd: process.cwd(),
      env: { ...process.env, URL: t.url },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(child.stderr).not.toMatch(/Cannot read properties of null/);
    expect({ status: child.status, out: child.stdout.trim() }).toEqual({ status: 0, out: 'rejected CONNECTION_CLOSED' });
  });
});
