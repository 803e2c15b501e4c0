// Faults on the real engine: apps that fail in every way, a dead engine,
// Ctrl-C at each stage. Each gives a clear error and leaves nothing behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_LABEL, holdName, PID_LABEL, SESSION_LABEL } from '../src/engine.js';
import { cli, imageExists, removeImage, slimContainers, slimHolds, slimImports, startCli } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

const FAULTS = new URL('../fixtures/fault-apps/', import.meta.url).pathname;

beforeAll(() => {
  for (const name of ['exits-at-once', 'never-listens', 'server-error']) {
    execFileSync('docker', ['build', '-q', '-t', `slim-test/shell-${name}:1`, join(FAULTS, name)], { stdio: 'ignore' });
  }
  execFileSync('docker', ['build', '-q', '-t', 'slim-test/shell-crashes:1', '-f', '-', join(FAULTS, 'server-error')], {
    input: 'FROM slim-test/shell-server-error:1\nENV MODE=crash\n', stdio: ['pipe', 'ignore', 'ignore'],
  });
});
afterAll(() => ['exits-at-once', 'never-listens', 'server-error', 'crashes', 'two-ports'].forEach((name) => removeImage(`slim-test/shell-${name}:1`)));

describe('apps that fail', () => {
  it('an app that exits at once: its exit code and log tail', async () => {
    const run = await cli(['build', 'slim-test/shell-exits-at-once:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/exited with code 3 before it answered/);
    expect(run.stderr).toMatch(/fatal: \/etc\/app.conf is missing/);
  });

  it('an app that never opens its port: the timeout and the flag to change', async () => {
    const start = Date.now();
    const run = await cli(['build', 'slim-test/shell-never-listens:1', '--ready-timeout', '3']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/did not answer HTTP on port 8080 within 3s/);
    expect(run.stderr).toMatch(/hint: raise --ready-timeout/);
    expect(Date.now() - start).toBeLessThan(30_000);
  });

  it('an app that answers 500: every probe failed, with its log', async () => {
    const run = await cli(['build', 'slim-test/shell-server-error:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/every probe failed against the original image \(GET \/ :8000: status 500\)/);
    expect(run.stderr).toMatch(/database unreachable/);
  });

  it('an app that crashes mid-probe: every probe failed, with its log', async () => {
    const run = await cli(['build', 'slim-test/shell-crashes:1', '--http-probe', '/crash']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/every probe failed against the original image/);
    expect(run.stderr).toMatch(/crashing on purpose/);
  });

  it('a probe the original does not answer when verifying is an error, not "same"', async () => {
    const dir = await tempDir();
    const probes = join(dir, 'verify.json');
    writeFileSync(probes, JSON.stringify([{ method: 'GET', path: '/crash' }]));
    const tag = 'slim-test/shell-crashes:slim';
    const run = await cli(['build', 'slim-test/shell-crashes:1', '--tag', tag, '--http-probe', '/', '--verify-probe-file', probes], { cwd: dir });
    removeImage(tag);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/got no answer from the original image .*nothing to compare/);
    expect(run.stderr).toMatch(/hint: fix or drop that probe/);
  });

  it('a port that does not speak HTTP gets no default probe, and the build goes on', async () => {
    execFileSync('docker', ['build', '-q', '-t', 'slim-test/shell-two-ports:1', '-'], { input: 'FROM slim-samples/c-hello:latest\nEXPOSE 9443\n', stdio: ['pipe', 'ignore', 'inherit'] });
    const run = await cli(['build', 'slim-test/shell-two-ports:1', '--tag', 'slim-test/shell-two-ports:slim', '--no-verify']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/port 9443 does not answer HTTP: no default probe goes there/);
    expect(run.stdout).toMatch(/probes answered by the original: 1\/1/);
    removeImage('slim-test/shell-two-ports:slim');
  });

  it('a dead engine: a clear error, no hang', async () => {
    const start = Date.now();
    const run = spawnSync(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, 'build', 'slim-samples/c-hello:latest'], {
      env: { ...process.env, DOCKER_HOST: 'unix:///tmp/slim-no-engine.sock' }, encoding: 'utf8', timeout: 30_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot reach the container engine/);
    expect(run.stderr).toMatch(/hint: start Docker/);
    expect(Date.now() - start).toBeLessThan(15_000);
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});

describe('Ctrl-C (SIGINT) and SIGTERM at each stage', () => {
  const tag = 'slim-test/shell-interrupted:slim';
  afterAll(() => removeImage(tag));

  // Markers in the plain progress output, one per stage of the pipeline. By verify
  // the slim image is complete and tagged; before, no tag may exist.
  const stages: Array<[string, RegExp, boolean]> = [
    ['probe start', /slim: start: slim-trace/, false],
    ['probing', /slim: probing/, false],
    ['trace collection', /slim: (stopping|collecting)/, false],
    ['reading the image', /slim: reading the image$/m, false],
    ['rebuild and load', /slim: writing the slim image$/m, false],
    ['verify', /slim: start: slim-verify-slim/, true],
  ];
  for (const [index, [stage, marker, complete]] of stages.entries()) {
    const signal = index % 2 === 0 ? 'SIGINT' : 'SIGTERM';
    it(`${signal} during ${stage}: exit 130, no container, no temp files, ${complete ? 'the complete image kept' : 'no output tag'}, original untouched`, async () => {
      removeImage(tag);
      const tmp = await tempDir();
      // A path no other build keeps: the layer is new to the engine, so an interrupted write is an interrupted import.
      const run = await cli(['build', 'slim-samples/django-site:latest', '--tag', tag, '--continue-after', 'timeout:3', '--include-path', '/etc/issue.net'], {
        env: { ...process.env, TMPDIR: tmp },
        onStderr: (text, child) => {
          if (marker.test(text) && !child.killed) child.kill(signal);
        },
      });
      expect(run.stderr).toMatch(marker);
      expect(run.code, run.stderr).toBe(130);
      expect(slimContainers()).toEqual([]);
      expect(slimImports()).toEqual([]);
      expect(slimHolds()).toEqual([]);
      expect(readdirSync(tmp)).toEqual([]);
      expect(imageExists(tag)).toBe(complete);
      expect(imageExists('slim-samples/django-site:latest')).toBe(true);
    });
  }
});

describe('a run killed outright', () => {
  it('leaves a labelled container that slim prune removes', async () => {
    const killed = await cli(['build', 'slim-samples/c-hello:latest', '--tag', 'slim-test/shell-killed:slim', '--continue-after', 'timeout:30'], {
      onStderr: (text, child) => {
        if (/slim: probing/.test(text) && !child.killed) child.kill('SIGKILL');
      },
    });
    expect(killed.code).toBe(null);
    // The trace container, and the helper that reads the image while the app is traced.
    expect(slimContainers().length).toBeGreaterThanOrEqual(1);
    // A layer import of a run killed before it removed it: labelled like the run's containers.
    const labels = `LABEL io.slim.tool=slim io.slim.session=killed io.slim.pid=${2 ** 22 + 1} io.slim.host=${hostname()}`;
    const leftover = execFileSync('docker', ['import', '--change', labels, '-'], { input: Buffer.alloc(1024), encoding: 'utf8' }).trim();
    // An image written ahead, and the name that held it while the app stopped: it goes with the name.
    const ahead = execFileSync('docker', ['import', '-'], { input: Buffer.alloc(1024), encoding: 'utf8' }).trim();
    const { repo, tag } = holdName({ [SESSION_LABEL]: 'killed', [PID_LABEL]: String(2 ** 22 + 1), [HOST_LABEL]: hostname() }, 1);
    execFileSync('docker', ['tag', ahead, `${repo}:${tag}`]);
    // With --cache, slim's cache of layers' headers goes too (one of its own here: the suite's stays).
    const cache = await tempDir();
    mkdirSync(join(cache, 'layers'));
    writeFileSync(join(cache, 'layers', `${'ab'.repeat(32)}.json`), '{}');
    const prune = await cli(['prune', '--cache'], { env: { ...process.env, SLIM_CACHE_DIR: cache } });
    expect(prune.code, prune.stderr).toBe(0);
    expect(prune.stdout).toMatch(/removed \d+ leftover\(s\): .*slim-trace-.*image /);
    expect(prune.stdout).toContain(`removed 1 cached layer header file(s) from ${join(cache, 'layers')}`);
    expect(readdirSync(join(cache, 'layers'))).toEqual([]);
    expect(prune.stdout).toContain(`image ${repo}:${tag}`);
    expect(slimContainers()).toEqual([]);
    expect(imageExists(leftover)).toBe(false);
    expect(imageExists(ahead)).toBe(false);
    expect(imageExists('slim-test/shell-killed:slim')).toBe(false);
  });
});

describe('a reader of the output that goes away', () => {
  it('(slim build | head) the build runs to its end and leaves nothing behind', async () => {
    const tag = 'slim-test/shell-unread:slim';
    const child = startCli(['build', 'slim-samples/c-hello:latest', '--tag', tag, '--no-verify']);
    // Both ends closed at the first progress line: every later write meets a closed pipe.
    child.stderr.once('data', () => {
      child.stdout.destroy();
      child.stderr.destroy();
    });
    const [code] = await once(child, 'exit');
    try {
      expect(code).toBe(0);
      expect(imageExists(tag)).toBe(true);
      expect(slimContainers()).toEqual([]);
    } finally {
      removeImage(tag);
    }
  });
});

describe('reproducible', () => {
  afterAll(() => ['slim-test/shell-repro:a', 'slim-test/shell-repro:b'].forEach(removeImage));
  it('two builds of the same image with the same probes give the same image ID', async () => {
    const ids: string[] = [];
    for (const tag of ['slim-test/shell-repro:a', 'slim-test/shell-repro:b']) {
      const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', tag, '--no-verify']);
      expect(run.code, run.stderr).toBe(0);
      ids.push(execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim());
    }
    expect(ids[0]).toBe(ids[1]);
  });
});
