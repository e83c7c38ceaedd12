import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { changedSourceSince, productionBuildStaleness } from './build-freshness';

let root: string;
const BUILT = new Date('2026-03-01T10:00:00Z');
const BEFORE = new Date('2026-03-01T09:00:00Z');
const AFTER = new Date('2026-03-01T11:00:00Z');

/** Writes a file under the temp checkout with the given modification time. */
function file(relative: string, mtime: Date) {
  const full = path.join(root, relative);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, '// source\n');
  utimesSync(full, mtime, mtime);
}

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'junction-build-freshness-'));
  file('app/page.tsx', BEFORE);
  file('lib/integrations/index.ts', BEFORE);
  file('components/ui/button.tsx', BEFORE);
  file('next.config.ts', BEFORE);
  file('package-lock.json', BEFORE);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('productionBuildStaleness', () => {
  it('asks for a build when there is none yet', () => {
    expect(productionBuildStaleness(root)).toBe('no production build yet');
  });

  it('keeps a build no source changed after', () => {
    file('.next/BUILD_ID', BUILT);
    expect(productionBuildStaleness(root)).toBeUndefined();
  });

  it('names a source added or changed after the build, however deep', () => {
    file('.next/BUILD_ID', BUILT);
    file('lib/integrations/partner-orders/index.ts', AFTER);
    expect(productionBuildStaleness(root)).toBe('sources changed since the last build (lib/integrations/partner-orders/index.ts)');
  });

  it('counts the root files the build reads (next.config.ts, package-lock.json) and stylesheets', () => {
    file('.next/BUILD_ID', BUILT);
    file('package-lock.json', AFTER);
    expect(productionBuildStaleness(root)).toBe('sources changed since the last build (package-lock.json)');
    file('package-lock.json', BEFORE);
    file('app/globals.css', AFTER);
    expect(productionBuildStaleness(root)).toBe('sources changed since the last build (app/globals.css)');
  });
});

describe('changedSourceSince', () => {
  it('ignores test files, other extensions, node_modules, .next and folders the build does not read', () => {
    const since = BUILT.getTime();
    file('lib/platform/registry.test.ts', AFTER);
    file('lib/notes.md', AFTER);
    file('lib/node_modules/dep/index.ts', AFTER);
    file('app/.next/cache.json', AFTER);
    file('e2e/config/config.spec.ts', AFTER);
    file('worker/index.ts', AFTER);
    expect(changedSourceSince(root, since)).toBeUndefined();
    file('db/schema.ts', AFTER);
    expect(changedSourceSince(root, since)).toBe('db/schema.ts');
  });

  it('answers undefined for a checkout without some of the folders', () => {
    rmSync(path.join(root, 'components'), { recursive: true });
    expect(changedSourceSince(root, BUILT.getTime())).toBeUndefined();
  });
});
