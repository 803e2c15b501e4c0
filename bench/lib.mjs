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

/**
 * Waits out the time after deletions during which creating files is slow. On an
 * ext4 without a journal (this project's CI machine) the inode allocator passes
 * over every inode freed in the last 60 s (5 min while its table block is
 * unwritten), so a build right after `docker rmi` of thousands of files pays up
 * to 1 ms a file to store its slim image, while `docker save` creates nothing.
 * The benchmarks remove in batches, write the disk out, and wait once;
 * BENCH_SETTLE=SECONDS changes the wait (0 skips it).
 */
export async function settle() {
  const seconds = Number(process.env.BENCH_SETTLE ?? 65);
  if (!(seconds > 0)) return;
  sh('sync', []);
  console.error(`bench: letting the disk settle for ${seconds}s after removing images (BENCH_SETTLE=0 skips)`);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** Removes images by tag, quietly (some may not exist). */
export const removeImages = (tags) => spawnSync('docker', ['rmi', ...tags], { stdio: 'ignore' });
