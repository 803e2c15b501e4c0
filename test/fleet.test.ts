// Fleets on the real engine: several images in one run with a shared base
// layer, on two engines (the second one a dockerd of our own, started and
// stopped here), Ctrl-C mid-fleet, an engine that dies mid-build, and --strip.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, removeImage, sampleCheck } from './engine-helpers.js';
import { tempDir } from './fixtures.js';

const SECOND = new URL('../scripts/second-engine.sh', import.meta.url).pathname;
const SAMPLES = new URL('../sample-apps/', import.meta.url).pathname;
const DEBUG_IMAGE = 'slim-test/fleet-debug:1';
const made: string[] = [DEBUG_IMAGE];
const FIRST = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
let dir = '';
let engineDir = '';
let second = '';

const docker = (host: string | undefined, args: string[]) =>
  spawnSync('docker', [...(host ? ['-H', host] : []), ...args], { encoding: 'utf8' });
/** Containers on an engine that a slim process made. */
const containersOf = (host: string | undefined, pid: number) =>
  docker(host, ['ps', '-aq', '--filter', `label=io.slim.pid=${pid}`]).stdout.split('\n').filter(Boolean);
const layersOf = (image: string): string[] => JSON.parse(docker(undefined, ['image', 'inspect', image, '--format', '{{json .RootFS.Layers}}']).stdout) as string[];

beforeAll(async () => {
  dir = await tempDir();
  engineDir = await tempDir();
  second = execFileSync('bash', [SECOND, 'start', engineDir], { encoding: 'utf8' }).trim();
  // The second engine gets only the image it needs.
  execFileSync('bash', ['-c', `docker save slim-samples/c-hello:latest | docker -H ${second} load -q`], { stdio: 'ignore' });
  // An unstripped (gcc -g) build of c-hello's server, and an executable that says it is UPX-packed.
  const ctx = join(dir, 'debug');
  cpSync(join(SAMPLES, 'c-hello'), ctx, { recursive: true });
  execFileSync('gcc', ['-g', '-O0', '-o', join(ctx, 'hello'), join(ctx, 'hello.c')]);
  const packed = Buffer.alloc(8192);
  readFileSync(join(ctx, 'hello')).copy(packed, 0, 0, 64);
  packed.write('UPX!', 0x400, 'latin1');
  writeFileSync(join(ctx, 'packed'), packed);
  chmodSync(join(ctx, 'packed'), 0o755);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM slim-samples/c-hello:latest\nCOPY hello packed /usr/local/bin/\n');
  execFileSync('docker', ['build', '-q', '-t', DEBUG_IMAGE, ctx], { stdio: 'ignore' });
});

afterAll(async () => {
  made.forEach(removeImage);
  if (engineDir) {
    spawnSync('bash', [SECOND, 'stop', engineDir], { stdio: 'ignore' });
    await rm(engineDir, { recursive: true, force: true });
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

let allShareBase = 0;

/** An --images-file of three samples, each with its own flags (csv-batch its input mount); returns sample → slim tag. */
function fleetFile(file: string, prefix: string): Record<string, string> {
  const data = join(dir, `${prefix}-data`);
  cpSync(join(SAMPLES, 'csv-batch', 'input'), join(data, 'in'), { recursive: true });
  const tags = { 'c-hello': `slim-test/${prefix}-c-hello:slim`, 'static-site': `slim-test/${prefix}-static-site:slim`, 'csv-batch': `slim-test/${prefix}-csv-batch:slim` };
  made.push(...Object.values(tags));
  writeFileSync(file, [
    '# one image a line, with its own flags',
    `slim-samples/c-hello:latest --tag ${tags['c-hello']}`,
    `slim-samples/static-site:latest --tag ${tags['static-site']}`,
    `slim-samples/csv-batch:latest --tag ${tags['csv-batch']} --mount ${data}:/data`,
    '',
  ].join('\n'));
  return tags;
}

describe('a fleet', () => {
  it('three samples with --jobs 2 --shared-base: one base layer in each, every slim image passes its check, fewer unique bytes', async () => {
    const tags = fleetFile(join(dir, 'images'), 'fleet');
    const start = Date.now();
    const run = await cli(['build', '--images-file', join(dir, 'images'), '--jobs', '2', '--shared-base', '--report', join(dir, 'fleet.json'), '--report-html', join(dir, 'fleet.html')], { cwd: dir });
    console.log(`fleet of 3 with --shared-base: ${((Date.now() - start) / 1000).toFixed(1)}s\n${run.stdout}`);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const bases = Object.values(tags).map((t) => layersOf(t));
    for (const layers of bases) expect(layers).toHaveLength(2);
    expect(new Set(bases.map((l) => l[0])).size).toBe(1);
    expect(new Set(bases.map((l) => l[1])).size).toBe(3);
    for (const [name, tag] of Object.entries(tags)) {
      const check = sampleCheck(name, tag);
      expect(check.ok, check.output).toBe(true);
    }
    const report = JSON.parse(readFileSync(join(dir, 'fleet.json'), 'utf8')) as { bytes: { sumOfSizes: number; uniqueBytes: number; withoutSharedBase: { sumOfSizes: number; uniqueBytes: number }; sharedBaseBytes: number } };
    const b = report.bytes;
    expect(b.sharedBaseBytes).toBeGreaterThan(1_000_000);
    allShareBase = b.sharedBaseBytes;
    expect(b.uniqueBytes).toBeLessThan(b.withoutSharedBase.uniqueBytes);
    expect(b.uniqueBytes).toBe(b.sumOfSizes - 2 * b.sharedBaseBytes);
    expect(run.stdout).toMatch(/unique layer bytes/);
    const html = readFileSync(join(dir, 'fleet.html'), 'utf8');
    expect(html).toMatch(/with the shared base layer/);
    expect(html).not.toMatch(/https?:\/\//);
    for (const image of Object.keys(tags)) expect(html).toContain(`slim-samples/${image}:latest`);
  });

  it('--shared-base 0.5: entries two of the three share go into the base, the third hides them with whiteouts and still passes its check', async () => {
    const tags = fleetFile(join(dir, 'images-half'), 'fleet-half');
    const run = await cli(['build', '--images-file', join(dir, 'images-half'), '--jobs', '2', '--shared-base=0.5', '--report', join(dir, 'half.json')], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'half.json'), 'utf8')) as { bytes: { sharedBaseBytes: number; uniqueBytes: number; withoutSharedBase: { uniqueBytes: number } }; images: Array<{ report: { layers: { base: { whiteouts: number } } } }> };
    expect(report.images.reduce((n, i) => n + i.report.layers.base.whiteouts, 0)).toBeGreaterThan(0);
    console.log(`fleet of 3 with --shared-base=0.5: base ${report.bytes.sharedBaseBytes} bytes, unique ${report.bytes.uniqueBytes} (${report.bytes.withoutSharedBase.uniqueBytes} without)`);
    if (allShareBase) expect(report.bytes.sharedBaseBytes).toBeGreaterThan(allShareBase);
    expect(new Set(Object.values(tags).map((t) => layersOf(t)[0])).size).toBe(1);
    for (const [name, tag] of Object.entries(tags)) {
      const check = sampleCheck(name, tag);
      expect(check.ok, check.output).toBe(true);
    }
  });

  it('one image failing does not stop the others; the exit code and the table say which and why', async () => {
    const run = await cli(['build', 'slim-samples/c-hello:latest', 'slim-test/fleet-no-such:1', '--jobs', '2', '--no-verify', '--report', join(dir, 'partial.json')], { cwd: dir });
    made.push('slim-samples/c-hello.slim:latest');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/slim-samples\/c-hello:latest\s.*ok/);
    expect(run.stdout).toMatch(/slim-test\/fleet-no-such:1\s.*failed.*no engine has it/);
    expect(run.stderr).toMatch(/1 of 2 images failed/);
  });

  it('--tag names one image: with several, each line of --images-file takes its own', async () => {
    const run = await cli(['build', 'slim-samples/c-hello:latest', 'slim-samples/c-text:latest', '--tag', 'slim-test/fleet-x:1']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--images-file/);
    const tune = await cli(['tune', 'slim-samples/c-hello:latest', 'slim-samples/c-text:latest']);
    expect(tune.code).toBe(2);
    expect(tune.stderr).toMatch(/several images would tune into the same allowlist file/);
    writeFileSync(join(dir, 'bad-line'), 'slim-samples/c-hello:latest --jobs 3\n');
    const line = await cli(['build', '--images-file', join(dir, 'bad-line')]);
    expect(line.code).toBe(2);
    expect(line.stderr).toMatch(/bad-line:1: --jobs is a flag of the whole run/);
  });
});

describe('two engines', () => {
  it('Ctrl-C mid-fleet leaves no container on either engine', async () => {
    writeFileSync(join(dir, 'two'), [
      'slim-samples/c-hello:latest --tag slim-test/fleet-int-a:1',
      'slim-samples/c-hello:latest --tag slim-test/fleet-int-b:1',
      'slim-samples/static-site:latest --tag slim-test/fleet-int-c:1',
    ].join('\n'));
    made.push('slim-test/fleet-int-a:1', 'slim-test/fleet-int-b:1', 'slim-test/fleet-int-c:1');
    let pid = 0;
    let both = false;
    let signalled = false;
    const run = await cli(['build', '--images-file', join(dir, 'two'), '--jobs', '2', '--shared-base', '--engine', FIRST, '--engine', second], {
      cwd: dir,
      onStderr: (_text, child) => {
        pid = child.pid!;
        // Once a container runs on each engine, interrupt.
        if (!signalled && containersOf(undefined, pid).length > 0 && containersOf(second, pid).length > 0) {
          both = true;
          signalled = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(both, run.stderr).toBe(true);
    expect(run.code, run.stderr).toBe(130);
    expect(containersOf(undefined, pid)).toEqual([]);
    expect(containersOf(second, pid)).toEqual([]);
  });

  it('the engine dies mid-build: the error names it, and slim prune reaps what it left there once it is back', async () => {
    let pid = 0;
    let stopped = false;
    const start = Date.now();
    const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', 'slim-test/fleet-dies:1', '--engine', second], {
      cwd: dir,
      onStderr: (_text, child) => {
        pid = child.pid!;
        if (!stopped && containersOf(second, pid).length > 0) {
          stopped = true;
          execFileSync('bash', [SECOND, 'stop', engineDir], { stdio: 'ignore' });
        }
      },
    });
    expect(stopped).toBe(true);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`cannot reach the container engine at ${second}`);
    expect(Date.now() - start).toBeLessThan(60_000);
    execFileSync('bash', [SECOND, 'start', engineDir], { stdio: 'ignore' });
    // And what a run killed outright (SIGKILL, pid gone) left on that engine.
    const dead = 2 ** 22 + 1;
    const labels = ['io.slim.tool=slim', 'io.slim.session=killed', `io.slim.pid=${dead}`, `io.slim.host=${hostname()}`].flatMap((l) => ['--label', l]);
    expect(docker(second, ['create', ...labels, 'slim-samples/c-hello:latest']).status).toBe(0);
    const prune = await cli(['prune', '--engine', FIRST, '--engine', second]);
    expect(prune.code, prune.stderr).toBe(0);
    console.log(`engine stopped mid-build:\n${run.stderr}\nslim prune after its restart: ${prune.stdout}`);
    expect(prune.stdout).toMatch(new RegExp(`removed \\d+ leftover\\(s\\) on ${second.replace(/[/.]/g, '\\$&')}`));
    expect(containersOf(second, pid)).toEqual([]);
    expect(containersOf(second, dead)).toEqual([]);
  });
});

describe('--strip', () => {
  it('a gcc -g binary: debug sections out, bytes saved per file, still equivalent; UPX-packed executables are warned about', async () => {
    made.push('slim-test/fleet-debug:plain', 'slim-test/fleet-debug:stripped');
    const plain = await cli(['build', DEBUG_IMAGE, '--tag', 'slim-test/fleet-debug:plain', '--report', join(dir, 'plain.json')], { cwd: dir });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/\/usr\/local\/bin\/packed is packed with UPX: it unpacks itself/);
    const xray = await cli(['xray', DEBUG_IMAGE]);
    expect(xray.code, xray.stderr).toBe(0);
    expect(xray.stdout).toMatch(/warning: \/usr\/local\/bin\/packed is packed with UPX/);
    expect(xray.stdout).not.toMatch(/\/usr\/local\/bin\/hello is packed/);
    const run = await cli(['build', DEBUG_IMAGE, '--tag', 'slim-test/fleet-debug:stripped', '--strip', '--no-strip', '/usr/local/bin/packed', '--report', join(dir, 'stripped.json'), '--report-html', join(dir, 'one.html')], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'stripped.json'), 'utf8')) as { sizes: { slim: { size: number } }; stripped: { saved: number; files: Array<{ path: string; before: number; after: number; removed: string[] }> } };
    const before = JSON.parse(readFileSync(join(dir, 'plain.json'), 'utf8')) as { sizes: { slim: { size: number } } };
    const hello = report.stripped.files.find((f) => f.path === '/usr/local/bin/hello')!;
    console.log(`--strip on a gcc -g c-hello: ${report.stripped.saved} bytes saved (${report.stripped.files.map((f) => `${f.path} ${f.before}->${f.after}`).join(', ')})`);
    expect(hello.removed).toContain('.debug_info');
    expect(hello.after).toBeLessThan(hello.before);
    expect(before.sizes.slim.size - report.sizes.slim.size).toBeGreaterThan(report.stripped.saved * 0.9);
    const check = sampleCheck('c-hello', 'slim-test/fleet-debug:stripped');
    expect(check.ok, check.output).toBe(true);
    expect(readFileSync(join(dir, 'one.html'), 'utf8')).toMatch(/Kept bytes by directory/);
  });

  it('django-site: stripped and still equivalent', async () => {
    made.push('slim-test/fleet-django:stripped');
    const run = await cli(['build', 'slim-samples/django-site:latest', '--tag', 'slim-test/fleet-django:stripped', '--strip', '--report', join(dir, 'django.json')], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'django.json'), 'utf8')) as { stripped: { saved: number; files: unknown[] } };
    console.log(`--strip on django-site: ${report.stripped.saved} bytes saved in ${report.stripped.files.length} files`);
    const check = sampleCheck('django-site', 'slim-test/fleet-django:stripped');
    expect(check.ok, check.output).toBe(true);
  });
});
