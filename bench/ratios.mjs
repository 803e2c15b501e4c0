// Benchmark 4: the whole `slim build` (with and without verification) against
// `docker save` of the original to /dev/null, per sample and on a big image
// whose bulk the app never reads; with slim's peak RSS and the bytes kept.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSamples, fmt, root, sh, timeCommand } from './lib.mjs';

const SAMPLES = ['django-site', 'c-hello', 'node-api', 'static-site'];
const BIG_GB = Number(process.env.BENCH_BIG_GB ?? 5);
/** Another build of slim (SLIM_CLI=/path/to/dist/cli.js) for before/after figures. */
const CLI = process.env.SLIM_CLI ?? join(root, 'dist', 'cli.js');

/** Runs the CLI; returns its wall time and peak RSS (GNU time). */
function slimBuild(image, tag, dir, extra) {
  const start = performance.now();
  const run = spawnSync('/usr/bin/time', ['-f', 'rss %M', process.execPath, CLI, 'build', image, '--tag', tag, '--report', join(dir, 'report.json'), ...extra], { encoding: 'utf8', cwd: dir });
  const seconds = (performance.now() - start) / 1000;
  if (run.status !== 0) throw new Error(`slim build ${image} failed:\n${run.stdout}\n${run.stderr}`);
  const rssMB = Number(/rss (\d+)/.exec(run.stderr)?.[1] ?? 0) / 1024;
  return { seconds, rssMB };
}

export async function ratios() {
  ensureSamples(...SAMPLES);
  const images = SAMPLES.map((name) => ({ name, image: `slim-samples/${name}:latest` }));
  if (BIG_GB > 0) {
    const big = `slim-bench/unread-${BIG_GB}g:latest`;
    sh('docker', ['build', '-q', '--build-arg', `GB=${BIG_GB}`, '-t', big, join(root, 'bench', 'big-unread')]);
    images.push({ name: `c-hello+${BIG_GB}GB`, image: big });
  }
  const rows = [];
  for (const { name, image } of images) {
    const dir = mkdtempSync(join(tmpdir(), 'slim-bench-'));
    const tag = `slim-bench/ratios:${name.replace(/[^a-z0-9]/gi, '-')}`;
    try {
      const size = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', image]));
      const save = () => timeCommand('sh', ['-c', `docker save ${image} > /dev/null`]);
      const firstSave = save();
      const noVerify = slimBuild(image, tag, dir, ['--no-verify']);
      const full = slimBuild(image, tag, dir, []);
      const kept = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', tag]));
      // The faster of two saves: the cache favours the engine, not slim.
      const engine = Math.min(firstSave, save());
      rows.push({ name, size, kept, save: engine, full, noVerify });
    } finally {
      spawnSync('docker', ['rmi', tag], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log('slim build against docker save of the original to /dev/null (seconds; peak RSS of slim):');
  console.log(`  ${'image'.padEnd(14)}${'size MB'.padStart(9)}${'kept MB'.padStart(9)}${'save'.padStart(8)}${'no-verify'.padStart(11)}${'ratio'.padStart(8)}${'build'.padStart(8)}${'ratio'.padStart(8)}${'RSS MB'.padStart(8)}`);
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(14)}${fmt(r.size / 1e6, 0).padStart(9)}${fmt(r.kept / 1e6, 1).padStart(9)}${fmt(r.save).padStart(8)}${fmt(r.noVerify.seconds).padStart(11)}${(fmt(r.noVerify.seconds / r.save) + 'x').padStart(8)}${fmt(r.full.seconds).padStart(8)}${(fmt(r.full.seconds / r.save) + 'x').padStart(8)}${fmt(Math.max(r.full.rssMB, r.noVerify.rssMB), 0).padStart(8)}`);
  }
  return rows;
}
