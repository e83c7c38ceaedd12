import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Whether the console's production build (.next) still matches its sources. The worker runs the
 * TypeScript sources, the web app runs what `next build` compiled: after an integration was added
 * or renamed, a build from before it showed the new integration (its row is in the database) with
 * no settings form and no credentials. `npm start` builds again when this answers a reason.
 */

/** What the web build is compiled from: these folders, and these files at the root. */
export const BUILD_SOURCE_DIRS = ['app', 'components', 'lib', 'db'] as const;
export const BUILD_SOURCE_FILES = [
  'next.config.ts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'postcss.config.mjs',
  'proxy.ts',
  'instrumentation.ts',
] as const;
const SOURCE_EXTENSIONS = new Set(['.ts', '.tsx', '.css', '.json', '.mjs']);
/** Not part of any build, and large: never walked. */
const SKIPPED_DIRS = new Set(['node_modules', '.next']);

/** A test file changes no build: editing one does not make `npm start` build again. */
function isBuildSource(name: string): boolean {
  return SOURCE_EXTENSIONS.has(path.extname(name)) && !/\.test\.tsx?$/.test(name);
}

/**
 * The first source file (relative to `root`, with `/`) modified after `sinceMs`, or undefined when
 * none was. A walk of directory entries and their mtimes, stopping at the first newer file: cheap
 * enough to run at every start.
 */
export function changedSourceSince(root: string, sinceMs: number): string | undefined {
  const newer = (full: string) => {
    try {
      return statSync(full).mtimeMs > sinceMs;
    } catch {
      return false; // removed while we looked
    }
  };
  for (const file of BUILD_SOURCE_FILES) if (newer(path.join(root, file))) return file;
  const walk = (dir: string): string | undefined => {
    let entries;
    try {
      entries = readdirSync(path.join(root, dir), { withFileTypes: true });
    } catch {
      return undefined; // a folder this checkout does not have
    }
    for (const entry of entries) {
      const relative = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (SKIPPED_DIRS.has(entry.name) || entry.name.startsWith('.')) continue;
        const found = walk(relative);
        if (found) return found;
      } else if (entry.isFile() && isBuildSource(entry.name) && newer(path.join(root, relative))) {
        return relative;
      }
    }
    return undefined;
  };
  for (const dir of BUILD_SOURCE_DIRS) {
    const found = walk(dir);
    if (found) return found;
  }
  return undefined;
}

/**
 * Why the production build under `root`/.next must be made (again), in words for the console, or
 * undefined when it is up to date: there is none yet, or a source changed after it was made
 * (.next/BUILD_ID is written at the end of `next build`).
 */
export function productionBuildStaleness(root: string): string | undefined {
  let builtAt: number;
  try {
    builtAt = statSync(path.join(root, '.next', 'BUILD_ID')).mtimeMs;
  } catch {
    return 'no production build yet';
  }
  const changed = changedSourceSince(root, builtAt);
  return changed ? `sources changed since the last build (${changed})` : undefined;
}
