// What the probe container may do, and what may reach the slim image and the report.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flatten } from '../src/image/archive.js';
import { readImage } from '../src/image/read.js';
import { runWithProbes } from '../src/run.js';
import { Cleanup } from '../src/session.js';
import { cli, engine, removeImage, slimContainers } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

const IMAGE = 'slim-test/run-secret-env:1';
const SLIM = 'slim-test/run-secret-env:slim';

beforeAll(() => {
  // The Django sample with a secret in its environment; its app user can write to /srv/site.
  execFileSync('docker', ['build', '-q', '-t', IMAGE, '-'], { input: 'FROM slim-samples/django-site:latest\nENV API_TOKEN=hunter2 DB_PASSWORD=swordfish PLAIN=visible\n', stdio: ['pipe', 'ignore', 'inherit'] });
});
afterAll(() => [IMAGE, SLIM].forEach(removeImage));

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
      }, new Cleanup());
      expect(inspected!.HostConfig.CapAdd).toEqual([capability]);
      expect(inspected!.HostConfig.Privileged).toBe(false);
      const bindings = Object.values(inspected!.HostConfig.PortBindings).flat();
      expect(bindings.length).toBeGreaterThan(0);
      for (const b of bindings) expect(b.HostIp).toBe('127.0.0.1');
    });
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
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});
