// Benchmark 3: what the probes cost the app: request latency and throughput of a
// sample with no probe, with fanotify and with strace (ratios against no probe).
import { dist, ensureSamples, fmt } from './lib.mjs';

const REQUESTS = 300;
const TARGETS = [['c-hello', '/'], ['django-site', '/items/']];

async function measure(url) {
  const latencies = [];
  for (let i = 0; i < 20; i++) await fetch(url).then((r) => r.arrayBuffer()); // warm up
  const start = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now();
    await fetch(url).then((r) => r.arrayBuffer());
    latencies.push(performance.now() - t);
  }
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { p50: latencies[Math.floor(REQUESTS / 2)], p95: latencies[Math.floor(REQUESTS * 0.95)], rps: REQUESTS / seconds };
}

export async function probeOverhead() {
  ensureSamples(...TARGETS.map(([n]) => n));
  const { dockerEngine } = await dist('engine.js');
  const { runWithProbes } = await dist('run.js');
  const { Cleanup } = await dist('session.js');
  const engine = dockerEngine({ version: 'bench' });
  const results = [];
  for (const [name, path] of TARGETS) {
    const byTracer = {};
    for (const tracer of ['none', 'fanotify', 'strace']) {
      let started = 0;
      let startup = 0;
      const onEvent = (e) => {
        if (e.stage === 'start') started = performance.now();
        if (e.stage === 'ready') startup = (performance.now() - started) / 1000;
      };
      await runWithProbes(engine, `slim-samples/${name}:latest`, {
        tracer, role: 'bench', readyTimeoutMs: 60_000, continueAfter: { kind: 'probe' },
        probes: { http: [], exec: [], hostExec: [], defaultHttp: false },
        afterProbes: async (env) => {
          byTracer[tracer] = { ...(await measure(`${env.SLIM_HTTP_URL}${path}`)), startup };
          return [];
        },
      }, new Cleanup(), onEvent);
    }
    results.push({ name, path, ...byTracer });
  }
  console.log(`probe overhead (start-up until the app answers, in s; ${REQUESTS} sequential requests: latency p50/p95 in ms, throughput in requests/s):`);
  for (const r of results) {
    for (const tracer of ['none', 'fanotify', 'strace']) {
      const m = r[tracer];
      const ratio = tracer === 'none' ? '' : `  start-up ${fmt(m.startup / r.none.startup)}x, latency ${fmt(m.p50 / r.none.p50)}x, throughput ${fmt(m.rps / r.none.rps)}x of no probe`;
      console.log(`  ${`${r.name} ${r.path}`.padEnd(22)} ${tracer.padEnd(9)} start-up ${fmt(m.startup).padStart(5)}  p50 ${fmt(m.p50).padStart(6)}  p95 ${fmt(m.p95).padStart(6)}  ${fmt(m.rps, 0).padStart(5)} req/s${ratio}`);
    }
  }
  return results;
}
