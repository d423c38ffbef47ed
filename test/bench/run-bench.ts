/**
 * `npm run bench -- <name> [args…]`: run one benchmark from test/bench/benches/<name>.ts;
 * `npm run eval -- <name>` the same for an evaluation in test/eval/evals/<name>.ts.
 * Progress goes to stderr; the result is ONE JSON line, printed last on stdout.
 *
 * A benchmark module exports `run(args: string[], progress: (msg: string) => void)` returning
 * a flat JSON-serialisable object of figures (units in the key names: `_ms`, `_bytes`, `_per_s`).
 * Benchmarks measure; they do not assert — tests do that, without timing.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The contract of a benchmark module. */
export interface BenchModule {
  /** One line for `npm run bench` without arguments. */
  description: string;
  run(args: string[], progress: (msg: string) => void): Promise<Record<string, unknown>>;
}

// `--evals` (npm run eval) switches to the evaluations.
const EVALS = process.argv[2] === '--evals';
const DIR = EVALS ? join(import.meta.dirname, '..', 'eval', 'evals') : join(import.meta.dirname, 'benches');
const COMMAND = EVALS ? 'eval' : 'bench';

function available(): string[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(EVALS ? 3 : 2);
  const names = available();
  if (name === undefined || !names.includes(name)) {
    const lines = await Promise.all(
      names.map(
        async (n) => `  ${n.padEnd(16)} ${((await import(join(DIR, `${n}.ts`))) as BenchModule).description}`,
      ),
    );
    console.error(`usage: npm run ${COMMAND} -- <name> [args]\n${lines.join('\n')}`);
    return 2;
  }
  const mod = (await import(join(DIR, `${name}.ts`))) as BenchModule;
  const started = Date.now();
  const progress = (msg: string): void => {
    console.error(`[${name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
  };
  const result = await mod.run(args, progress);
  console.log(JSON.stringify({ [COMMAND]: name, ...result, wall_ms: Date.now() - started }));
  return 0;
}

process.exitCode = await main();
