// Benchmark 3: the whole `slim build` (with and without verification, and again
// once the engine has the layer) against `docker save` of the original to
// /dev/null, per sample and on a big image whose bulk the app never reads; with
// docker load of the slim image alone (the engine's own part of any build),
// slim's peak RSS and the bytes kept.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSamples, fmt, root, sh, timeCommand } from './lib.mjs';

/** Each sample with its one obvious probe (an HTTP sample's default GET / needs no flag); BENCH_SAMPLES=a,b picks some. */
const SAMPLES = {
  'django-site': [], 'c-hello': [], 'node-api': [], 'static-site': [], 'redis-cache': ['--exec', 'redis-cli ping'],
  'csv-batch': (dir) => {
    cpSync(join(root, 'sample-apps', 'csv-batch', 'input'), join(dir, 'data', 'in'), { recursive: true });
    return ['--mount', `${join(dir, 'data')}:/data`];
  },
  'ruby-gems': [], 'c-text': [], 'shell-cgi': [], 'php-site': [], magick: [], 'java-svc': [], 'data-app': [],
};
const CHOSEN = process.env.BENCH_SAMPLES === undefined ? Object.keys(SAMPLES) : process.env.BENCH_SAMPLES.split(',').filter(Boolean);
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
  ensureSamples(...CHOSEN);
  const images = CHOSEN.map((name) => ({ name, image: `slim-samples/${name}:latest`, flags: SAMPLES[name] ?? [] }));
  if (BIG_GB > 0) {
    const big = `slim-bench/unread-${BIG_GB}g:latest`;
    sh('docker', ['build', '-q', '--build-arg', `GB=${BIG_GB}`, '-t', big, join(root, 'bench', 'big-unread')]);
    images.push({ name: `c-hello+${BIG_GB}GB`, image: big, flags: [] });
  }
  const rows = [];
  for (const { name, image, flags } of images) {
    const dir = mkdtempSync(join(tmpdir(), 'slim-bench-'));
    const probe = typeof flags === 'function' ? flags(dir) : flags;
    const tag = `slim-bench/ratios:${name.replace(/[^a-z0-9]/gi, '-')}`;
    const removeSlim = () => spawnSync('docker', ['rmi', tag], { stdio: 'ignore' });
    try {
      const size = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', image]));
      const save = () => timeCommand('sh', ['-c', `docker save ${image} > /dev/null`]);
      const firstSave = save();
      // Each build writes its layer afresh (the slim image is removed before it), as a first build does.
      removeSlim();
      const noVerify = slimBuild(image, tag, dir, [...probe, '--no-verify']);
      removeSlim();
      const full = slimBuild(image, tag, dir, probe);
      // The same build again: the engine has the layer, and gets the config alone.
      const again = slimBuild(image, tag, dir, probe);
      const kept = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', tag]));
      // What the engine alone takes to store the slim image: docker load of it, after it was removed.
      const archive = join(dir, 'slim.tar');
      sh('docker', ['save', '-o', archive, tag]);
      removeSlim();
      const load = timeCommand('docker', ['load', '-q', '-i', archive]);
      // The faster of two saves: the cache favours the engine, not slim.
      const engine = Math.min(firstSave, save());
      rows.push({ name, size, kept, save: engine, load, full, noVerify, again });
    } finally {
      removeSlim();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const x = (a, b) => `${fmt(a / b)}x`;
  console.log('slim build against docker save of the original to /dev/null (seconds; ratios to save; peak RSS of slim):');
  console.log('  load: docker load of the slim image alone, what the engine takes to store it; again: the same build when the engine has the layer');
  const cols = [['image', 14], ['size MB', 9], ['kept MB', 9], ['save', 7], ['load', 7], ['no-verify', 11], ['ratio', 7], ['build', 7], ['ratio', 7], ['again', 7], ['ratio', 7], ['RSS MB', 8]];
  console.log('  ' + cols.map(([c, w], i) => (i === 0 ? c.padEnd(w) : c.padStart(w))).join(''));
  for (const r of rows) {
    const cells = [r.name, fmt(r.size / 1e6, 0), fmt(r.kept / 1e6, 1), fmt(r.save), fmt(r.load), fmt(r.noVerify.seconds), x(r.noVerify.seconds, r.save), fmt(r.full.seconds), x(r.full.seconds, r.save), fmt(r.again.seconds), x(r.again.seconds, r.save), fmt(Math.max(r.full.rssMB, r.noVerify.rssMB, r.again.rssMB), 0)];
    console.log('  ' + cells.map((c, i) => (i === 0 ? c.padEnd(cols[i][1]) : c.padStart(cols[i][1]))).join(''));
  }
  return rows;
}
