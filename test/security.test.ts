// What the probe container may do, and what may reach the slim image and the report.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flatten } from '../src/image/archive.js';
import { readImage } from '../src/image/read.js';
import { runWithProbes } from '../src/run.js';
import type { TracerName } from '../src/tracers/index.js';
import { cleanupAfterEach, cli, engine, removeImage, slimContainers } from './engine-helpers.js';
import { tempDir } from './fixtures.js';
import { buildListener } from './listener.js';

const runs = cleanupAfterEach();

const IMAGE = 'slim-test/run-secret-env:1';
const SLIM = 'slim-test/run-secret-env:slim';
const LISTENER = 'slim-test/run-listener-caps:1';

/** The Cap* lines of /proc/PID/status of the container's process whose command matches, read on the host (docker top gives host pids). */
function capabilities(container: string, command: RegExp): Record<string, string> {
  const rows = execFileSync('docker', ['top', container, '-eo', 'pid,args'], { encoding: 'utf8' }).trim().split('\n').slice(1);
  const row = rows.map((r) => r.trim().split(/\s+/)).find(([, ...args]) => command.test(args.join(' ')));
  if (!row) throw new Error(`no process matching ${command} in ${container}:\n${rows.join('\n')}`);
  const status = readFileSync(`/proc/${row[0]}/status`, 'utf8');
  return Object.fromEntries(status.split('\n').filter((l) => l.startsWith('Cap')).map((l) => l.split(/:\s+/) as [string, string]));
}

/** The app's capabilities under a plain docker run of the image. */
async function plainCapabilities(image: string, command: RegExp): Promise<Record<string, string>> {
  const id = execFileSync('docker', ['run', '-d', image], { encoding: 'utf8' }).trim();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return capabilities(id, command);
      } catch (err) {
        if (attempt === 40) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
  }
}

beforeAll(() => {
  buildListener(LISTENER);
  // The Django sample with a secret in its environment; its app user can write to /srv/site.
  execFileSync('docker', ['build', '-q', '-t', IMAGE, '-'], { input: 'FROM slim-samples/django-site:latest\nENV API_TOKEN=hunter2 DB_PASSWORD=swordfish PLAIN=visible\n', stdio: ['pipe', 'ignore', 'inherit'] });
});
afterAll(() => [IMAGE, SLIM, LISTENER].forEach(removeImage));

describe('security', () => {
  for (const [tracer, capability] of [['fanotify', 'SYS_ADMIN'], ['strace', 'SYS_PTRACE']] as const) {
    it(`the ${tracer} tracer's container gets only ${capability}, no privileged mode, ports on 127.0.0.1`, async () => {
      let inspected: { HostConfig: { CapAdd: string[]; Privileged: boolean; PortBindings: Record<string, Array<{ HostIp: string }>> } } | undefined;
      await runWithProbes(engine, IMAGE, {
        tracer, role: 'test', readyTimeoutMs: 60_000, continueAfter: { kind: 'probe' },
        probes: { http: [], exec: [], hostExec: [], defaultHttp: true },
        afterProbes: async (env) => {
          inspected = JSON.parse(execFileSync('docker', ['inspect', env.SLIM_CONTAINER!], { encoding: 'utf8' }))[0];
          return [];
        },
      }, runs);
      expect(inspected!.HostConfig.CapAdd).toEqual([capability]);
      expect(inspected!.HostConfig.Privileged).toBe(false);
      const bindings = Object.values(inspected!.HostConfig.PortBindings).flat();
      expect(bindings.length).toBeGreaterThan(0);
      for (const b of bindings) expect(b.HostIp).toBe('127.0.0.1');
    });
  }

  const apps: Array<[string, RegExp, string]> = [[LISTENER, /^perl /, 'as root'], ['slim-samples/redis-cache:latest', /^redis-server /, 'as its USER']];
  for (const tracer of ['fanotify', 'strace'] as TracerName[]) {
    for (const [image, command, as] of apps) {
      it(`under ${tracer}, the app (${as}) has exactly the capabilities of a plain docker run; the tracer keeps its own`, async () => {
        const plain = await plainCapabilities(image, command);
        let traced: Record<string, string> = {};
        let tracerOwn: Record<string, string> = {};
        let outWrite: { status: number | null; stderr: string } = { status: 0, stderr: '' };
        let swap: { status: number | null; stderr: string } = { status: 0, stderr: '' };
        await runWithProbes(engine, image, {
          tracer, role: 'test', readyTimeoutMs: 30_000, continueAfter: { kind: 'probe' },
          probes: { http: [], exec: [], hostExec: [], defaultHttp: false },
          afterProbes: async (env) => {
            traced = capabilities(env.SLIM_CONTAINER!, command);
            tracerOwn = capabilities(env.SLIM_CONTAINER!, /^\/\.slim\/(slim-probe|strace)/);
            // The trace output is the tracer's: the app's user cannot write to it.
            if (as === 'as its USER') outWrite = spawnSync('docker', ['exec', '-u', 'redis', env.SLIM_CONTAINER!, 'sh', '-c', 'echo forged >> /.slim-out/trace.rec; echo forged > /.slim-out/x'], { encoding: 'utf8' });
            // Even root in the container cannot swap the tracer that every exec runs with the capability.
            swap = spawnSync('docker', ['exec', '-u', '0', env.SLIM_CONTAINER!, 'sh', '-c', 'cp /bin/sh /.slim/slim-probe.new && mv /.slim/slim-probe.new /.slim/slim-probe'], { encoding: 'utf8' });
            return [];
          },
        }, runs);
        for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(traced[set], set).toBe(plain[set]);
        // The measurement can tell: the tracer's own process has the added capability in its bounding set.
        expect(tracerOwn.CapBnd).not.toBe(plain.CapBnd);
        expect(swap.status).not.toBe(0);
        expect(swap.stderr).toMatch(/Read-only file system/);
        if (as === 'as its USER') {
          expect(outWrite.status).not.toBe(0);
          expect(outWrite.stderr).toMatch(/Permission denied/);
        }
      });
    }
  }

  it('nothing the app wrote during the trace reaches the slim image, and secrets are redacted in the report', async () => {
    const dir = await tempDir();
    const run = await cli(['build', IMAGE, '--tag', SLIM, '--http-probe', '/', '--http-probe', '/clock/'], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    // Python wrote bytecode under the app's own directory while it ran; the original image has none there.
    const inOriginal = execFileSync('docker', ['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c', 'find /srv/site -name "*.pyc" | wc -l'], { encoding: 'utf8' }).trim();
    expect(inOriginal).toBe('0');
    const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as { env: string[]; kept: Record<string, string[]>; trace: { paths: Record<string, string[]> } };
    const written = Object.keys(report.trace.paths).filter((p) => p.startsWith('/srv/site/') && p.includes('.pyc'));
    expect(written.length).toBeGreaterThan(0);
    for (const path of written) expect(report.kept[path]).toBeUndefined();
    await using slim = await readImage(engine, SLIM);
    const slimPaths = [...(await flatten(slim)).paths()];
    expect(slimPaths).toContain('/srv/site/pages/views.py');
    expect(slimPaths.filter((p) => p.startsWith('/srv/site/') && p.includes('.pyc'))).toEqual([]);
    expect(report.env).toContain('API_TOKEN=<redacted>');
    expect(report.env).toContain('DB_PASSWORD=<redacted>');
    expect(report.env).toContain('PLAIN=visible');
    expect(readFileSync(join(dir, 'slim.report.json'), 'utf8')).not.toMatch(/hunter2|swordfish/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});
