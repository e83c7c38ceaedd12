import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

/** Runs a tiny script that loads the embedded PostgreSQL wrapper, then ends on its own. */
function exitStatusAfterImport(body: string): number | null {
  const script = `import './scripts/embedded-postgres.ts'; ${body}`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return result.status;
}

describe('embedded PostgreSQL wrapper', () => {
  // embedded-postgres's exit hook answers 'beforeExit' with process.exit(0); Vitest reports a
  // failed run through process.exitCode, so without the wrapper's guard every failing database
  // test run exited 0.
  it('keeps the exit code a process set before it ended', () => {
    expect(exitStatusAfterImport('process.exitCode = 3;')).toBe(3);
  });

  it('still exits 0 when nothing failed', () => {
    expect(exitStatusAfterImport('')).toBe(0);
  });
});
