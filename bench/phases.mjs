// Benchmark 2: where `slim build` spends its time on each sample, read from the
// CLI's own progress lines as they arrive (so it times what a user waits for,
// process start and exit included), against the engine moving the same bytes:
// docker save of the original + docker load of the slim image.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { engineLoadSeconds, ensureSamples, fmt, removeImages, root, settle, timeCommand, VARIANT_PATHS } from './lib.mjs';

const SAMPLES = ['django-site', 'c-hello', 'node-api', 'static-site'];
const CLI = process.env.SLIM_CLI ?? join(root, 'dist', 'cli.js');

/** Phase → the progress line that ends it (the first one after the previous phase's). */
const PHASES = [
  ['node start', /^slim: tracing the app$/],
  ['container start', /^slim: start: waiting|^slim: ready/],
  ['ready', /^slim: ready/],
  ['probes', /^slim: stopping/],
  ['stop+collect', /^slim: tracing the app done/],
  ['read (rest)', /^slim: reading the image done/],
  ['plan', /^slim: planning what to keep done/],
  ['rebuild+load', /^slim: writing the slim image done/],
  ['verify', /^slim: verifying the slim image done/],
];

/** Runs the CLI and stamps each progress line with the seconds since it was started. */
function stampedBuild(image, tag, dir) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [CLI, 'build', image, '--tag', tag, '--include-path', VARIANT_PATHS.build, '--report', join(dir, 'report.json')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const lines = [];
    createInterface({ input: child.stderr }).on('line', (line) => lines.push([line, (performance.now() - start) / 1000]));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ lines, total: (performance.now() - start) / 1000 }) : reject(new Error(`slim build ${image} exited ${code}:\n${lines.map(([l]) => l).join('\n')}`))));
  });
}

function phaseSeconds({ lines, total }) {
  const out = {};
  let from = 0;
  let at = 0;
  for (const [name, ends] of PHASES) {
    const found = lines.findIndex(([line], i) => i >= at && ends.test(line));
    if (found === -1) continue;
    out[name] = lines[found][1] - from;
    from = lines[found][1];
    at = found + 1;
  }
  out.exit = total - from;
  return out;
}

export async function phases() {
  ensureSamples(...SAMPLES);
  const runs = SAMPLES.map((name) => ({ name, image: `slim-samples/${name}:latest`, tag: `slim-bench/${name}:slim`, dir: mkdtempSync(join(tmpdir(), 'slim-bench-')) }));
  const removeSlim = () => removeImages(runs.flatMap((r) => [r.tag, `${r.tag}-load`]));
  const rows = [];
  try {
    // Every build writes a layer the engine does not have, on a disk that had time to settle (see settle in lib.mjs).
    removeSlim();
    await settle();
    for (const run of runs) {
      const build = await stampedBuild(run.image, run.tag, run.dir);
      run.total = build.total;
      run.phases = phaseSeconds(build);
      run.save = timeCommand('sh', ['-c', `docker save ${run.image} > /dev/null`]);
      run.load = engineLoadSeconds(CLI, run.image, `${run.tag}-load`, run.dir);
    }
    rows.push(...runs);
  } finally {
    removeSlim();
    for (const run of runs) rmSync(run.dir, { recursive: true, force: true });
  }
  console.log('slim build phases (seconds), against docker save of the original + docker load of the slim image:');
  const names = [...PHASES.map(([n]) => n), 'exit'];
  console.log(`  ${'sample'.padEnd(12)}${names.map((n) => n.padStart(Math.max(8, n.length + 2))).join('')}${'total'.padStart(8)}${'save'.padStart(7)}${'load'.padStart(7)}${'ratio'.padStart(8)}`);
  for (const r of rows) {
    const cells = names.map((n) => fmt(r.phases[n] ?? 0).padStart(Math.max(8, n.length + 2))).join('');
    console.log(`  ${r.name.padEnd(12)}${cells}${fmt(r.total).padStart(8)}${fmt(r.save).padStart(7)}${fmt(r.load).padStart(7)}${(fmt(r.total / (r.save + r.load)) + 'x').padStart(8)}`);
  }
  return rows;
}
