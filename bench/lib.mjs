// Shared by the benchmarks: timing, the engine, sample images. Benchmarks print
// ratios measured in one run; they assert nothing.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = dirname(dirname(fileURLToPath(import.meta.url)));
export const dist = (module) => import(join(root, 'dist', module));

export function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts }).trim();
}

export async function time(fn) {
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}

export const timeCommand = (cmd, args) => {
  const start = performance.now();
  const run = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (run.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
  return (performance.now() - start) / 1000;
};

export function ensureSamples(...names) {
  execFileSync('bash', [join(root, 'scripts', 'build-samples.sh'), ...names], { stdio: 'inherit' });
}

export const fmt = (n, digits = 2) => n.toFixed(digits);
