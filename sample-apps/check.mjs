#!/usr/bin/env node
// Runs a sample app's functional checks (sample-apps/NAME/checks.json) against
// an image: original or slim. Ports are published on 127.0.0.1 only. Prints one
// line per check and exits non-zero when any fails. A sample's "kind" says how
// it is exercised: "http" (default: requests and log lines), "tcp" (its own wire
// protocol, its client inside the image, and a restart), or "batch" (runs to
// its end over a mounted input dir; outputs compared byte for byte).
//   node sample-apps/check.mjs NAME [IMAGE]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [name, image = `slim-samples/${name}:latest`] = process.argv.slice(2);
if (!name) {
  console.error('usage: node sample-apps/check.mjs NAME [IMAGE]');
  process.exit(2);
}
const sampleDir = join(dirname(fileURLToPath(import.meta.url)), name);
const spec = JSON.parse(readFileSync(join(sampleDir, 'checks.json'), 'utf8'));
const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function get(url, init = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  try {
    const res = await fetch(url, { ...init, redirect: 'manual', signal: controller.signal });
    return { res, text: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

let failed = 0;
let passed = 0;
const report = (ok, label, detail = '') => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${label}${detail ? ` (${detail})` : ''}`);
};

async function httpChecks() {
  const container = docker('run', '-d', '--label', 'io.slim.sample-check=1', '-p', `127.0.0.1::${spec.port}`, image);
  try {
    let base = '';
    // Waits until the app answers HTTP; the host port is read again since a restart may change it.
    const waitReady = async () => {
      await sleep(200);
      const running = () => docker('inspect', '-f', '{{.State.Running}}', container) === 'true';
      base = running() ? `http://127.0.0.1:${docker('port', container, String(spec.port)).split('\n')[0].split(':').pop()}` : '';
      for (let i = 0; i < 120 && base; i++) {
        if (!running()) break;
        if (await get(base + '/').then(() => true, () => false)) return true;
        await sleep(250);
      }
      return false;
    };
    if (!(await waitReady())) {
      report(false, 'app answers HTTP', docker('logs', '--tail', '20', container));
    } else {
      for (const check of spec.checks) {
        if (check.restart) {
          // State the app wrote must survive a restart of the same container.
          docker('restart', '-t', '5', container);
          report(await waitReady(), check.name);
          continue;
        }
        try {
          const headers = { referer: `${base}/` };
          let body = check.body;
          if (check.json) {
            body = JSON.stringify(check.json);
            headers['content-type'] = 'application/json';
          }
          if (check.form) {
            const fields = { ...check.form };
            if (check.csrfFrom) {
              const page = await get(base + check.csrfFrom);
              fields.csrfmiddlewaretoken = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
              headers.cookie = (page.res.headers.getSetCookie()[0] ?? '').split(';')[0];
            }
            body = new URLSearchParams(fields).toString();
            headers['content-type'] = 'application/x-www-form-urlencoded';
          }
          const { res, text } = await get(base + check.path, { method: check.method ?? 'GET', headers, body });
          const problems = [];
          if (res.status !== check.status) problems.push(`status ${res.status}, expected ${check.status}`);
          for (const needle of check.contains ?? []) if (!text.includes(needle)) problems.push(`body lacks ${JSON.stringify(needle)}`);
          if (check.contentType && !(res.headers.get('content-type') ?? '').startsWith(check.contentType)) problems.push(`content type ${res.headers.get('content-type')}`);
          report(problems.length === 0, check.name, problems.join('; '));
        } catch (err) {
          report(false, check.name, err.cause?.message ?? err.message);
        }
      }
      await sleep(300);
      const logs = execFileSync('docker', ['logs', container], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) + '';
      const stderr = execFileSync('sh', ['-c', `docker logs ${container} 2>&1 >/dev/null`], { encoding: 'utf8' });
      for (const check of spec.logs ?? []) {
        const missing = check.matches.filter((re) => !new RegExp(re).test(logs + stderr));
        report(missing.length === 0, check.name, missing.length ? `log lacks /${missing[0]}/` : '');
      }
    }
  } finally {
    execFileSync('docker', ['rm', '-f', container], { stdio: 'ignore' });
  }
}

/** Opens a connection, sends `send`, reads until every expected string came (or 5 s), closes. */
function exchange(port, send) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const timer = setTimeout(() => socket.end(), 5000);
    socket.on('connect', () => socket.write(send));
    socket.on('data', (chunk) => {
      received += chunk;
      if (received.endsWith('\r\n') || received.endsWith('\n')) {
        clearTimeout(timer);
        socket.end();
      }
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
  });
}

async function tcpReady(container) {
  const port = docker('port', container, String(spec.port)).split('\n')[0].split(':').pop();
  for (let i = 0; i < 80; i++) {
    if (docker('inspect', '-f', '{{.State.Running}}', container) !== 'true') return undefined;
    const answer = await exchange(port, spec.ready.send).catch(() => '');
    if (answer.includes(spec.ready.expect)) return port;
    await sleep(250);
  }
  return undefined;
}

/** Steps in order: "send" over TCP, "exec" the client inside the container, "restart" the container. */
async function tcpChecks() {
  const container = docker('run', '-d', '--label', 'io.slim.sample-check=1', '-p', `127.0.0.1::${spec.port}`, image);
  try {
    let port = await tcpReady(container);
    if (!port) return report(false, 'app answers on its port', docker('logs', '--tail', '20', container));
    for (const check of spec.checks) {
      try {
        let answer = '';
        if (check.restart) {
          docker('restart', '-t', '10', container);
          port = await tcpReady(container);
          if (!port) throw new Error(`not ready after restart: ${docker('logs', '--tail', '5', container)}`);
        }
        if (check.send !== undefined) answer = await exchange(port, check.send);
        if (check.exec) {
          const run = spawnSync('docker', ['exec', container, ...check.exec], { encoding: 'utf8' });
          answer = run.stdout + run.stderr;
          if (run.status !== 0) throw new Error(`exit ${run.status}: ${answer.trim()}`);
        }
        const missing = (check.expect ?? []).filter((needle) => !answer.includes(needle));
        report(missing.length === 0, check.name, missing.length ? `answer ${JSON.stringify(answer.slice(0, 80))} lacks ${JSON.stringify(missing[0])}` : '');
      } catch (err) {
        report(false, check.name, err.message);
      }
    }
  } finally {
    execFileSync('docker', ['rm', '-f', container], { stdio: 'ignore' });
  }
}

/** Runs the image over a copy of the sample's check input; its output files must equal the expected ones byte for byte. */
async function batchChecks() {
  const work = mkdtempSync(join(tmpdir(), 'slim-check-'));
  try {
    cpSync(join(sampleDir, spec.input), join(work, spec.inputDir), { recursive: true });
    // As the caller's user, so that what it writes can be cleaned up without root.
    const user = `${process.getuid()}:${process.getgid()}`;
    const run = spawnSync('docker', ['run', '--rm', '--label', 'io.slim.sample-check=1', '--user', user, '-v', `${work}:${spec.mount}`, image], { encoding: 'utf8' });
    report(run.status === 0, 'runs to its end with exit code 0', run.status === 0 ? '' : `exit ${run.status}: ${run.stderr.trim().slice(0, 200)}`);
    for (const needle of spec.stdout ?? []) report(run.stdout.includes(needle), `prints ${JSON.stringify(needle)}`, run.stdout.includes(needle) ? '' : run.stdout.slice(0, 200));
    const expectedDir = join(sampleDir, spec.expected);
    for (const file of readdirSync(expectedDir).sort()) {
      let actual;
      try {
        actual = readFileSync(join(work, spec.outputDir, file));
      } catch {
        report(false, `writes ${file}`, 'missing');
        continue;
      }
      report(actual.equals(readFileSync(join(expectedDir, file))), `writes ${file} byte-identical to the original's`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const KINDS = { http: httpChecks, tcp: tcpChecks, batch: batchChecks };
await KINDS[spec.kind ?? 'http']();

console.log(`${name} on ${image}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
