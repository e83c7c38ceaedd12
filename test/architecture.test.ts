import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The architecture rules in eslint.config.mjs (boundaries/dependencies), proven by fixtures that
 * lint must reject. Each file in test/lint-fixtures/ is named after one rule, says on its first
 * line which path it is linted as (the rules depend on where the importing file lives), and marks
 * every import the rule must reject with `// rejected`; its other imports must pass. clean.ts must
 * pass whole. The fixtures are left out of the normal lint run and of the typecheck.
 */

const root = path.resolve(import.meta.dirname, '..');
const fixtures = path.join(root, 'test/lint-fixtures');
let eslint: ESLint;

interface Fixture {
  rule: string;
  lintAs: string;
  source: string;
  rejectedLines: number[];
}

function readFixture(file: string): Fixture {
  const source = readFileSync(path.join(fixtures, file), 'utf8');
  const lintAs = /^\/\/ lint as: (\S+)/.exec(source)?.[1];
  if (!lintAs) throw new Error(`${file}: the first line must be '// lint as: <path from the repository root>'`);
  const rejectedLines = source.split('\n').flatMap((line, i) => (line.endsWith('// rejected') ? [i + 1] : []));
  return { rule: path.basename(file, '.ts'), lintAs, source, rejectedLines };
}

async function lint(fixture: Fixture) {
  const [result] = await eslint.lintText(fixture.source, { filePath: path.join(root, fixture.lintAs) });
  return result.messages.map((m) => ({ line: m.line, rule: m.ruleId, tag: /^\[([a-z-]+)\]/.exec(m.message)?.[1] ?? m.message }));
}

const ruleFixtures = readdirSync(fixtures)
  .filter((f) => f.endsWith('.ts') && f !== 'clean.ts')
  .map(readFixture);

beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

describe('architecture rules (lint)', () => {
  it('has a fixture for every rule', () => {
    const config = readFileSync(path.join(root, 'eslint.config.mjs'), 'utf8');
    const rules = [...config.matchAll(/message:\s*[`'"]\[([a-z-]+)\]/g)].map((m) => m[1]).sort();
    expect(rules.length).toBeGreaterThan(0);
    expect(ruleFixtures.map((f) => f.rule).sort()).toEqual(rules);
  });

  it.each(ruleFixtures.map((f) => [f.rule, f] as const))(
    '%s: rejects exactly the marked imports, relative and @/ alike',
    async (rule, fixture) => {
      expect(fixture.rejectedLines.length).toBeGreaterThan(0);
      const messages = await lint(fixture);
      expect(messages).toEqual(fixture.rejectedLines.map((line) => ({ line, rule: 'boundaries/dependencies', tag: rule })));
    },
  );

  it('passes a file that keeps every rule', async () => {
    const clean = readFixture('clean.ts');
    expect(clean.rejectedLines).toEqual([]);
    expect(await lint(clean)).toEqual([]);
  });
});
