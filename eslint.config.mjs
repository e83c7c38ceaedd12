import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

/**
 * The parts of the code base (the README's architecture section). Every file of a folder belongs
 * to its part; imports are resolved (relative paths, `@/` paths, `import type`, `export ... from`
 * and `import()` alike) before the rules below look at them.
 */
const PARTS = [
  { type: 'app', pattern: 'app' },
  { type: 'components-ui', pattern: 'components/ui' },
  { type: 'components', pattern: 'components' },
  { type: 'platform', pattern: 'lib/platform' },
  { type: 'integrations', pattern: 'lib/integrations' },
  { type: 'auth', pattern: 'lib/auth' },
  { type: 'server', pattern: 'lib/server' },
  // Element patterns match folders: lib/env.ts is the file of lib/ that none of the folders above
  // holds (a new loose file in lib/ would join this part).
  { type: 'env', pattern: 'lib' },
  { type: 'db', pattern: 'db' },
  { type: 'worker', pattern: 'worker' },
  { type: 'sandbox', pattern: 'sandbox' },
  { type: 'scripts', pattern: 'scripts' },
  { type: 'bench', pattern: 'bench' },
  { type: 'test', pattern: 'test' },
  { type: 'e2e', pattern: 'e2e' },
].map((part) => ({ partialMatch: false, ...part }));

/** What an integration may use of lib/platform: the contract it is written against. */
const PLATFORM_CONTRACT = ['contract.ts', 'errors.ts', 'mapping/index.ts'];

const to = (...types) => ({ to: { element: { type: types } } });
const anything = to('*');

/**
 * Each rule, in order; a later matching policy overrides an earlier one. The rule names in the
 * messages are what test/architecture.test.ts expects for each fixture in test/lint-fixtures/.
 */
const POLICIES = [
  {
    from: { element: { type: 'platform' } },
    disallow: anything,
    message:
      '[platform-standalone] lib/platform imports only lib/platform, db and lib/env (not {{ to.type }}: the shared layer never depends on what is built on it)',
  },
  { from: { element: { type: 'platform' } }, allow: to('platform', 'db', 'env') },
  {
    from: { element: { type: 'integrations' } },
    disallow: anything,
    message: `[integrations-contract] an integration imports only its own folder, db and lib/platform's contract (${PLATFORM_CONTRACT.join(', ')}); add what it lacks to the platform for everyone`,
  },
  {
    from: { element: { type: 'integrations' } },
    allow: [to('integrations', 'db'), { to: { element: { type: 'platform', fileInternalPath: PLATFORM_CONTRACT } } }],
  },
  {
    from: { element: { type: 'sandbox' } },
    disallow: anything,
    message: '[sandbox-standalone] the sandbox stands in for systems outside Junction: it imports nothing of Junction (not {{ to.type }})',
  },
  { from: { element: { type: 'sandbox' } }, allow: to('sandbox') },
  {
    from: { element: { type: 'app' } },
    disallow: to('sandbox', 'worker', 'scripts', 'bench'),
    message: '[app-no-processes] app/ does not import {{ to.type }}: other processes are reached over HTTP or through the database',
  },
  {
    from: { element: { type: 'components' } },
    disallow: [{ to: { element: { type: 'db' } }, dependency: { kind: 'value' } }, to('worker', 'sandbox', 'scripts', 'bench')],
    message:
      '[components-no-data] components do not import {{ to.type }} (row types from db/schema with `import type` only): data comes from app/ pages and server actions',
  },
  {
    from: { element: { type: 'components-ui' } },
    disallow: anything,
    message: '[ui-primitives] components/ui primitives import only components/ui (not {{ to.type }})',
  },
  { from: { element: { type: 'components-ui' } }, allow: to('components-ui') },
  {
    from: { element: { type: 'worker' } },
    disallow: to('app', 'components', 'components-ui', 'server', 'auth'),
    message: '[worker-no-web] the worker process does not import the web layer ({{ to.type }})',
  },
  {
    disallow: to('test', 'e2e'),
    message: '[no-test-harness] product code does not import the test harness ({{ to.type }})',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.next/**',
      '.data/**',
      'test-results/**',
      'playwright-report/**',
      'next-env.d.ts',
      'db/migrations/**',
      'test/lint-fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-restricted-imports': 'off',
    },
  },
  {
    // The shared layer never depends on the web framework.
    files: ['lib/platform/**/*.ts', 'lib/integrations/**/*.ts', 'worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['next', 'next/*', 'react', 'react-dom'], message: 'lib/platform is framework-free: no Next.js or React here.' },
          ],
        },
      ],
    },
  },
  {
    // Architecture: which part may import which (README, Architecture). Tests, and the test
    // helpers that live beside them, may import whatever they exercise.
    files: ['**/*.{ts,tsx,mts,mjs}'],
    ignores: ['**/*.test.ts', 'lib/platform/alerts/test-receivers.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': PARTS,
      'boundaries/legacy-templates': false,
      'import/resolver': { typescript: { project: 'tsconfig.json' } },
    },
    rules: {
      'boundaries/dependencies': ['error', { default: 'allow', policies: POLICIES }],
    },
  },
  // Formatting is Prettier's (`prettier --check` in `npm run lint`): no ESLint rule argues with it.
  prettier,
);
