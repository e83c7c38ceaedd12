import { benchServer, describeMachine, formatMachine, stopEmbedded, table, type BenchContext, type Cell, type Size } from './lib';

/**
 * `npm run bench -- <name|all> [--size tiny|full|huge]`: runs benchmarks and prints their tables with
 * the machine they ran on. `--size tiny` finishes in seconds (CI keeps the benchmarks working
 * with it); full sizes are what bench/README.md reports.
 */

export interface BenchResult {
  name: string;
  /** The benchmark's own table(s), printed as they are. */
  text: string;
  /** Rows for the closing summary: [what, platform, baseline, ratio]. */
  summary: Cell[][];
}

type Runner = (ctx: BenchContext) => Promise<BenchResult>;

const BENCHMARKS: Record<string, () => Promise<Runner>> = {
  dispatch: async () => (await import('./dispatch')).runDispatch,
  export: async () => (await import('./export')).runExport,
  mapping: async () => (await import('./mapping')).runMapping,
  console: async () => (await import('./console')).runConsole,
  'scale-out': async () => (await import('./scale-out')).runScaleOut,
  pages: async () => (await import('./pages')).runPages,
  intake: async () => (await import('./intake')).runIntake,
  turns: async () => (await import('./turns')).runTurns,
};

function usage(message: string): never {
  console.error(`${message}\nusage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}|all> [--size tiny|full|huge]`);
  process.exit(2);
}

function parseArgs(argv: string[]): { names: string[]; size: Size; huge: boolean } {
  let size: Size = 'full';
  let huge = false;
  const names: string[] = [];
  const setSize = (v: string | undefined) => {
    if (v !== 'tiny' && v !== 'full' && v !== 'huge') usage(`--size must be tiny, full or huge (got '${v ?? ''}')`);
    huge = v === 'huge';
    size = v === 'huge' ? 'full' : v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--size') {
      setSize(argv[++i]);
    } else if (a.startsWith('--size=')) {
      setSize(a.slice('--size='.length));
    } else if (a === 'all') {
      names.push(...Object.keys(BENCHMARKS));
    } else if (a in BENCHMARKS) {
      names.push(a);
    } else {
      usage(`unknown benchmark or option '${a}'`);
    }
  }
  if (names.length === 0) usage('name a benchmark');
  if (huge && names.some((n) => n !== 'console'))
    usage('--size huge exists for the console benchmark only (npm run bench -- console --size huge)');
  return { names: [...new Set(names)], size, huge };
}

async function main() {
  const { names, size, huge } = parseArgs(process.argv.slice(2));
  const adminUrl = await benchServer();
  const machine = await describeMachine(adminUrl);
  const ctx: BenchContext = { size, huge, adminUrl, machine };
  console.log(`${formatMachine(machine)}\nsize: ${huge ? 'huge' : size}\n`);
  const summary: Cell[][] = [];
  for (const name of names) {
    const started = performance.now();
    console.log(`## ${name}`);
    const result = await (await BENCHMARKS[name]())(ctx);
    console.log(`${result.text}\n(${name} took ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    summary.push(...result.summary);
  }
  console.log(`## summary (${huge ? 'huge' : size})\n${formatMachine(machine)}`);
  console.log(table(['benchmark', 'platform', 'baseline', 'platform / baseline'], summary));
  await stopEmbedded();
}

main().then(
  () => process.exit(0),
  async (error) => {
    console.error(error);
    await stopEmbedded().catch(() => {});
    process.exit(1);
  },
);
