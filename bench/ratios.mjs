// Benchmark 3: the whole `slim build` (with and without verification, and again
// once the engine has the layer) against `docker save` of the original to
// /dev/null, per sample and on a big image whose bulk the app never reads; with
// docker load of the slim image alone (the engine's own part of any build), one
// run of the original without slim (the app's own part), slim's peak RSS and the
// bytes kept.
//
// Nothing is deleted before a timed write: the fresh builds keep one file more
// each (see settle in lib.mjs), and the bench waits once at the start.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appRunSeconds, engineLoadSeconds, ensureSamples, fmt, removeImages, root, settle, sh, timeCommand, VARIANT_PATHS } from './lib.mjs';

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

/** How appRunSeconds drives a sample the way its build flags do: an exposed port, a command probe, a batch job's mounts. */
function appProbe(run) {
  const flag = (name) => run.probe.flatMap((arg, i) => (arg === name ? [run.probe[i + 1]] : []));
  if (flag('--mount').length) return { binds: flag('--mount') };
  const port = Object.keys(JSON.parse(sh('docker', ['image', 'inspect', '-f', '{{json .Config.ExposedPorts}}', run.image])) ?? {})[0]?.split('/')[0];
  return { port, exec: flag('--exec')[0] };
}

/** Runs the CLI; returns its wall time, peak RSS (GNU time) and how its layer went into the engine. */
function slimBuild(run, tag, extra) {
  const report = join(run.dir, 'report.json');
  const start = performance.now();
  const child = spawnSync('/usr/bin/time', ['-f', 'rss %M', process.execPath, CLI, 'build', run.image, '--tag', tag, '--report', report, ...run.probe, ...extra], { encoding: 'utf8', cwd: run.dir });
  const seconds = (performance.now() - start) / 1000;
  if (child.status !== 0) throw new Error(`slim build ${run.image} failed:\n${child.stdout}\n${child.stderr}`);
  const rssMB = Number(/rss (\d+)/.exec(child.stderr)?.[1] ?? 0) / 1024;
  return { seconds, rssMB, via: JSON.parse(readFileSync(report, 'utf8')).layers?.via };
}

export async function ratios() {
  ensureSamples(...CHOSEN);
  const images = CHOSEN.map((name) => ({ name, image: `slim-samples/${name}:latest`, flags: SAMPLES[name] ?? [] }));
  if (BIG_GB > 0) {
    const big = `slim-bench/unread-${BIG_GB}g:latest`;
    sh('docker', ['build', '-q', '--build-arg', `GB=${BIG_GB}`, '-t', big, join(root, 'bench', 'big-unread')]);
    images.push({ name: `c-hello+${BIG_GB}GB`, image: big, flags: [] });
  }
  const runs = images.map(({ name, image, flags }) => {
    const dir = mkdtempSync(join(tmpdir(), 'slim-bench-'));
    return { name, image, dir, probe: typeof flags === 'function' ? flags(dir) : flags, tag: `slim-bench/ratios:${name.replace(/[^a-z0-9]/gi, '-')}` };
  });
  const removeSlim = () => removeImages(runs.flatMap((r) => [r.tag, `${r.tag}-full`, `${r.tag}-load`]));
  const variant = ['--include-path', VARIANT_PATHS.build];
  const rows = [];
  try {
    removeSlim();
    await settle();
    for (const run of runs) {
      const save = () => timeCommand('sh', ['-c', `docker save ${run.image} > /dev/null`]);
      // The faster of two saves: the cache favours the engine, not slim.
      run.save = Math.min(save(), save());
      run.size = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', run.image]));
    }
    // Each of these writes a layer the engine does not have, as a first build does.
    for (const run of runs) run.noVerify = slimBuild(run, run.tag, ['--no-verify', '--include-path', VARIANT_PATHS.noVerify]);
    for (const run of runs) run.full = slimBuild(run, `${run.tag}-full`, variant);
    // The same build again: the engine has the layer, and gets the config alone.
    for (const run of runs) {
      run.again = slimBuild(run, `${run.tag}-full`, variant);
      run.kept = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', run.tag]));
    }
    // What the engine alone takes to store a slim image: docker load of one whose layer it does not have.
    for (const run of runs) run.load = engineLoadSeconds(CLI, run.image, `${run.tag}-load`, run.dir, run.probe);
    // And to run the original once the way the trace run does, without slim: with the load, the floor of any such build.
    for (const run of runs) run.appRun = await appRunSeconds(run.image, appProbe(run));
    rows.push(...runs);
  } finally {
    removeSlim();
    for (const run of runs) rmSync(run.dir, { recursive: true, force: true });
  }
  const x = (a, b) => `${fmt(a / b)}x`;
  // A fresh build that found its layer in the engine all the same (another image of the same plan) is marked.
  const fresh = (build) => `${fmt(build.seconds)}${build.via === 'already in the engine' ? '*' : ''}`;
  console.log('slim build against docker save of the original to /dev/null (seconds; ratios to save; peak RSS of slim):');
  console.log('  load: docker load of the slim image alone, what the engine takes to store it; again: the same build when the engine has the layer');
  console.log('  run: one run of the original without slim (create, start, ready, stop); floor: run + load, what any build that watches the app spends in the engine and the app');
  const cols = [['image', 14], ['size MB', 9], ['kept MB', 9], ['save', 7], ['load', 7], ['run', 7], ['no-verify', 11], ['ratio', 7], ['/floor', 8], ['build', 7], ['ratio', 7], ['again', 7], ['ratio', 7], ['RSS MB', 8]];
  console.log('  ' + cols.map(([c, w], i) => (i === 0 ? c.padEnd(w) : c.padStart(w))).join(''));
  for (const r of rows) {
    const cells = [r.name, fmt(r.size / 1e6, 0), fmt(r.kept / 1e6, 1), fmt(r.save), fmt(r.load), fmt(r.appRun), fresh(r.noVerify), x(r.noVerify.seconds, r.save), x(r.noVerify.seconds, r.appRun + r.load), fresh(r.full), x(r.full.seconds, r.save), fmt(r.again.seconds), x(r.again.seconds, r.save), fmt(Math.max(r.full.rssMB, r.noVerify.rssMB, r.again.rssMB), 0)];
    console.log('  ' + cells.map((c, i) => (i === 0 ? c.padEnd(cols[i][1]) : c.padStart(cols[i][1]))).join(''));
  }
  if (rows.some((r) => r.noVerify.via === 'already in the engine' || r.full.via === 'already in the engine')) {
    console.log('  * the engine held the layer already (another image of the same plan, such as the demo\'s): not a fresh write');
  }
  return rows;
}
