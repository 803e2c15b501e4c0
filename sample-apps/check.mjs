#!/usr/bin/env node
// Runs a sample app's functional checks (sample-apps/NAME/checks.json) against
// an image: original or slim. Ports are published on 127.0.0.1 only. Prints one
// line per check and exits non-zero when any fails.
//   node sample-apps/check.mjs NAME [IMAGE]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [name, image = `slim-samples/${name}:latest`] = process.argv.slice(2);
if (!name) {
  console.error('usage: node sample-apps/check.mjs NAME [IMAGE]');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), name, 'checks.json'), 'utf8'));
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

const container = docker('run', '-d', '--label', 'io.slim.sample-check=1', '-p', `127.0.0.1::${spec.port}`, image);
let failed = 0;
const report = (ok, label, detail = '') => {
  if (!ok) failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${label}${detail ? ` (${detail})` : ''}`);
};
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
  const ready = await waitReady();
  if (!ready) {
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
console.log(`${name} on ${image}: ${spec.checks.length + (spec.logs ?? []).length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
