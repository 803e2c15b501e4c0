// Benchmark 2: where slim build spends its time on each sample, against the
// engine moving the same bytes (docker save of the original + docker load of the slim image).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist, ensureSamples, fmt, sh, timeCommand } from './lib.mjs';

const SAMPLES = ['django-site', 'c-hello', 'node-api', 'static-site'];

export async function phases() {
  ensureSamples(...SAMPLES);
  const { dockerEngine } = await dist('engine.js');
  const { build } = await dist('build.js');
  const { Cleanup } = await dist('session.js');
  const engine = dockerEngine({ version: 'bench' });
  const rows = [];
  for (const name of SAMPLES) {
    const marks = [['begin', performance.now()]];
    const mark = (label) => marks.push([label, performance.now()]);
    const tag = `slim-bench/${name}:slim`;
    const start = performance.now();
    await build(engine, {
      image: `slim-samples/${name}:latest`, tag, tracer: 'fanotify', probes: { http: [], exec: [], hostExec: [], defaultHttp: true },
      readyTimeoutMs: 60_000, continueAfter: { kind: 'probe' }, rules: [], includePacks: [], excludePacks: [],
      languages: new Set(['python', 'node', 'ruby']), appDirs: true, verify: true, verifyProbes: [], tune: 0,
    }, new Cleanup(), (e) => {
      if (e.stage === 'run' && !marks.some(([l]) => l.startsWith('verify')) && ['start', 'ready', 'probing', 'stopping', 'collecting'].includes(e.event.stage)) mark(e.event.stage);
      if (e.stage !== 'run' && e.stage !== 'notice' && e.state === 'start') mark(e.stage);
    });
    mark('end');
    const total = (performance.now() - start) / 1000;
    const span = (from, to) => {
      const a = marks.find(([l]) => l === from)?.[1];
      const b = marks.find(([l]) => l === to)?.[1];
      return a !== undefined && b !== undefined ? (b - a) / 1000 : 0;
    };
    const dir = mkdtempSync(join(tmpdir(), 'slim-bench-'));
    const save = timeCommand('sh', ['-c', `docker save slim-samples/${name}:latest > /dev/null`]);
    const slimFile = join(dir, 'slim.tar');
    sh('docker', ['save', '-o', slimFile, tag]);
    sh('docker', ['rmi', tag]);
    const load = timeCommand('docker', ['load', '-q', '-i', slimFile]);
    sh('docker', ['rmi', tag]);
    rmSync(dir, { recursive: true, force: true });
    rows.push({
      name, total, engine: save + load,
      phases: {
        start: span('start', 'ready') ? span('begin', 'start') : 0,
        readiness: span('start', 'ready'), probing: span('probing', 'stopping'), collection: span('stopping', 'read'),
        read: span('read', 'plan'), plan: span('plan', 'rebuild'), 'rebuild+load': span('rebuild', 'verify'), verify: span('verify', 'end'),
      },
    });
  }
  console.log('slim build phases (seconds) against docker save of the original + docker load of the slim image:');
  const names = Object.keys(rows[0].phases);
  console.log(`  ${'sample'.padEnd(12)} ${names.map((n) => n.padStart(12)).join('')} ${'total'.padStart(8)} ${'engine'.padStart(8)} ${'ratio'.padStart(7)}`);
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(12)} ${names.map((n) => fmt(r.phases[n]).padStart(12)).join('')} ${fmt(r.total).padStart(8)} ${fmt(r.engine).padStart(8)} ${(fmt(r.total / r.engine) + 'x').padStart(7)}`);
  }
  return rows;
}
