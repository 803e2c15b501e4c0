// Apps that are not HTTP servers, on the real engine: wait strategies, command
// probes under every tracer, TCP services and batch jobs slimmed with one flag.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerEngine } from '../src/engine.js';
import { runWithProbes, TracerRefusedError, type RunOptions } from '../src/run.js';
import { cleanupAfterEach, cli, engine, removeImage, sampleCheck, slimContainers } from './engine-helpers.js';
import { tempDir } from './fixtures.js';
import { buildListener, LISTENER_PORT } from './listener.js';

const runs = cleanupAfterEach();
/** The same engine, but files for new containers always go through its archive call, as for a remote engine. */
const throughArchive = dockerEngine({ version: 'test', writeLayers: false });

const LISTENER = 'slim-test/run-listener:1';
const EXIT_125 = 'slim-test/run-exit125:1';
const REDIS_SLIM = 'slim-test/run-redis-cache:slim';
const BATCH_SLIM = 'slim-test/run-csv-batch:slim';

const noProbes = { http: [], exec: [], hostExec: [], defaultHttp: false };
const untraced = (extra: Partial<RunOptions> = {}): RunOptions => ({ tracer: 'none', probes: noProbes, readyTimeoutMs: 20_000, role: 'test', ...extra });

/** What the listener logged of the connections it got, from a run's log tail. */
const received = (logs: string) => logs.split('\n').filter((l) => l.startsWith('received '));

/** Mode, owner and group of a path in an image, read from `docker cp` of a created (never started) container. */
async function entryOf(image: string, path: string): Promise<{ mode: number; uid: number; gid: number }> {
  const id = execFileSync('docker', ['create', image], { encoding: 'utf8' }).trim();
  try {
    const archive = execFileSync('docker', ['cp', `${id}:${path}`, '-'], { maxBuffer: 1 << 28 });
    const extract = tar.extract();
    const first = new Promise<{ mode: number; uid: number; gid: number }>((resolve, reject) => {
      extract.once('entry', (h, body, next) => {
        resolve({ mode: h.mode! & 0o7777, uid: h.uid!, gid: h.gid! });
        body.resume();
        next();
      });
      extract.on('error', reject);
    });
    extract.end(archive);
    return await first;
  } finally {
    execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
  }
}

beforeAll(() => {
  buildListener(LISTENER);
  execFileSync('docker', ['build', '-q', '-t', EXIT_125, '-'], { input: 'FROM slim-samples/debian:bookworm\nCMD ["sh", "-c", "echo done badly; exit 125"]\n', stdio: ['pipe', 'ignore', 'inherit'] });
});
afterAll(() => [LISTENER, EXIT_125, REDIS_SLIM, BATCH_SLIM].forEach(removeImage));

describe('readiness', () => {
  it('with only --exec, a non-HTTP port is never sent a byte; the exec is traced', async () => {
    const run = await runWithProbes(engine, LISTENER, { ...untraced(), tracer: 'fanotify', probes: { ...noProbes, exec: ['perl -e 1'], defaultHttp: true } }, runs);
    expect(run.results.map((r) => [r.name, r.status])).toEqual([['exec perl -e 1', 0]]);
    const lines = received(run.logs);
    expect(lines.every((l) => l === 'received 0 bytes'), lines.join('\n')).toBe(true);
  });

  it('sees the ports the app listens on in its network namespace, from the engine\'s host, without connecting', async () => {
    await using container = await engine.createContainer({ image: LISTENER, role: 'test', publish: [`${LISTENER_PORT}/tcp`] });
    await container.start();
    let ports: Set<number> | undefined;
    for (const until = Date.now() + 20_000; Date.now() < until && !ports?.has(LISTENER_PORT);) {
      ports = await container.listeningPorts();
      if (!ports) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(ports).toEqual(new Set([LISTENER_PORT]));
    expect(received(await container.logs(100))).toEqual([]);
  });

  it('the default HTTP probe does speak HTTP (which is how the test above can fail), and says which wait failed', async () => {
    const run = runWithProbes(engine, LISTENER, { ...untraced(), readyTimeoutMs: 3000, probes: { ...noProbes, defaultHttp: true } }, runs);
    await expect(run).rejects.toThrow(/the app did not answer HTTP on port 7000 within 3s[^]*received \d+ bytes: GET \/ HTTP\/1.1/);
    await expect(run).rejects.toMatchObject({ hint: expect.stringMatching(/--exec CMD/) });
  });

  const strategies: Array<[string, Partial<RunOptions>, RegExp | undefined, RegExp | undefined]> = [
    ['tcp', {}, undefined, undefined],
    ['log', { ready: { log: '^listening$' } }, undefined, undefined],
    ['exec', { ready: { exec: 'perl -e 1' } }, undefined, undefined],
    ['delay', { ready: { delaySeconds: 1 } }, undefined, undefined],
    ['tcp (nothing listens)', { overrides: { cmd: ['sleep', '60'] } }, /port 7000 did not accept a connection \(the tcp wait\) within 2s/, /--ready-log REGEX, --ready-exec CMD or --ready-delay/],
    ['tcp (listens on loopback alone)', { overrides: { cmd: ['perl', '-MIO::Socket::INET', '-e', 'my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 7000, Listen => 5) or die "listen: $!"; print "listening on loopback\n"; sleep 60'] } }, /port 7000 did not accept a connection/, /--ready-log REGEX/],
    ['log (never printed)', { ready: { log: 'never printed' } }, /no line of the app's output matched --ready-log \/never printed\/ within 2s/, /change --ready-log/],
    ['exec (fails)', { ready: { exec: 'perl -e "exit 3"' } }, /--ready-exec 'perl -e "exit 3"' did not exit 0 within 2s/, /change --ready-exec/],
    ['delay (longer than the timeout)', { ready: { delaySeconds: 5 } }, /--ready-delay 5s did not pass within 2s/, /raise --ready-timeout above --ready-delay/],
  ];
  for (const [name, extra, error, hint] of strategies) {
    it(`wait strategy ${name} ${error ? 'fails with the strategy and the flag that changes it' : 'succeeds'}`, async () => {
      const run = runWithProbes(engine, LISTENER, untraced({ ...extra, readyTimeoutMs: error ? 2000 : 20_000 }), runs);
      if (!error) return expect((await run).exitCode).toBeDefined();
      await expect(run).rejects.toThrow(error);
      await expect(run).rejects.toMatchObject({ hint: expect.stringMatching(hint!) });
    });
  }
});

describe('command probes and batch runs', () => {
  it('strace sees --exec commands (they are not children of the app), with their output recorded', async () => {
    const run = await runWithProbes(engine, 'slim-samples/redis-cache:latest', { ...untraced(), tracer: 'strace', probes: { ...noProbes, exec: ['redis-cli ping'] } }, runs);
    expect(run.results[0]).toMatchObject({ kind: 'exec', status: 0, excerpt: 'PONG\n' });
    expect(run.trace!.paths.get('/usr/bin/redis-cli')?.has('exec')).toBe(true);
    expect(run.trace!.paths.get('/usr/bin/redis-server')?.has('exec')).toBe(true);
  });

  it('--cmd, --env, --workdir, --user and --network override the image config of a run, traced or not', async () => {
    const overrides = { cmd: ['sh', '-c', 'echo "$GREETING $(pwd) $(id -u)"; cat /sys/class/net/*/operstate | sort -u'], env: ['GREETING=hi'], workdir: '/tmp', user: '65534', network: 'none' };
    for (const tracer of ['none', 'fanotify', 'strace'] as const) {
      const run = await runWithProbes(engine, EXIT_125, { ...untraced(), tracer, overrides }, runs);
      // network none: only the loopback interface, whose state is "unknown".
      expect(run.results, tracer).toMatchObject([{ kind: 'run', status: 0, excerpt: 'hi /tmp 65534\nunknown\n' }]);
      if (tracer === 'strace') expect(run.trace!.paths.get('/usr/bin/id')?.has('exec')).toBe(true);
    }
  });

  it('an app that itself exits 125 is not taken for a refused tracer', async () => {
    const run = await runWithProbes(engine, EXIT_125, { ...untraced(), tracer: 'fanotify' }, runs);
    expect(run.results).toMatchObject([{ kind: 'run', status: 125, excerpt: 'done badly\n' }]);
    const refused = runWithProbes(engine, EXIT_125, { ...untraced(), tracer: 'fanotify', grantCapability: false }, runs);
    await expect(refused).rejects.toBeInstanceOf(TracerRefusedError);
  });

  it('files put into a new container have the same modes, owner and bytes written into its layer as through the engine', async () => {
    // A new tree under / is written into the layer; one inside the image's /opt goes through the engine, which keeps /opt's own mode.
    for (const top of ['put', 'opt/put']) {
      const files = [
        { path: `${top}/`, mode: 0o711 },
        { path: `${top}/secret`, mode: 0o600, data: Buffer.from('only root\n') },
        { path: `${top}/tool`, mode: 0o4755, data: Buffer.alloc(70_000, 1) },
      ];
      const seen = async (via: typeof engine) => {
        await using container = await via.createContainer({ image: EXIT_125, role: 'test', user: '65534', cmd: ['sleep', '30'], files });
        await container.start();
        return (await container.exec(['sh', '-c', `stat -c "%n %a %u:%g %s" /opt /${top} /${top}/*; md5sum /${top}/secret`], { user: '0' })).stdout.toString();
      };
      const [direct, viaArchive] = [await seen(engine), await seen(throughArchive)];
      expect(direct).toBe(viaArchive);
      expect(direct.split('\n').slice(0, 4)).toEqual(['/opt 755 0:0 4096', `/${top} 711 0:0 4096`, `/${top}/secret 600 0:0 10`, `/${top}/tool 4755 0:0 70000`]);
    }
  });

  it('where the container\'s layer is not on this host, the trace and the start mark come through the engine, the same', async () => {
    // The real engine, with containers that do not say where their layer is (a remote engine, slim in a container).
    const remote: typeof engine = { ...throughArchive, createContainer: async (spec) => ({ ...(await throughArchive.createContainer(spec)), layerDir: async () => undefined }) };
    const overrides = { cmd: ['sh', '-c', 'cat /usr/lib/os-release; exit 3'] };
    const [onHost, throughEngine] = [await runWithProbes(engine, EXIT_125, { ...untraced(), tracer: 'fanotify', overrides }, runs), await runWithProbes(remote, EXIT_125, { ...untraced(), tracer: 'fanotify', overrides }, runs)];
    expect(throughEngine.results).toMatchObject([{ kind: 'run', status: 3 }]);
    expect(throughEngine.trace!.paths.get('/usr/lib/os-release')).toBeDefined();
    expect([...throughEngine.trace!.paths.keys()].sort()).toEqual([...onHost.trace!.paths.keys()].sort());
    await expect(runWithProbes(remote, EXIT_125, { ...untraced(), tracer: 'fanotify', grantCapability: false }, runs)).rejects.toBeInstanceOf(TracerRefusedError);
  });

  for (const tracer of ['fanotify', 'strace'] as const) {
    it(`under ${tracer}, a USER the image lacks is the app's problem, not a refused tracer`, async () => {
      const run = runWithProbes(engine, EXIT_125, { ...untraced(), tracer, overrides: { user: 'nosuchuser' } }, runs);
      await expect(run).rejects.toThrow(/the app could not be started: unable to find user nosuchuser/);
      await expect(run).rejects.not.toBeInstanceOf(TracerRefusedError);
    });
  }

  it('slims the Redis sample with only --exec: it serves clients and keeps its data dir, owner and mode, across docker restart', async () => {
    const dir = await tempDir();
    const start = Date.now();
    const run = await cli(['build', 'slim-samples/redis-cache:latest', '--tag', REDIS_SLIM, '--exec', 'redis-cli ping'], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/exec redis-cli ping .* same/);
    const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as { sizes: { original: { size: number }; slim: { size: number } } };
    console.log(`redis-cache: ${(report.sizes.original.size / 1e6).toFixed(1)} MB -> ${(report.sizes.slim.size / 1e6).toFixed(1)} MB in ${((Date.now() - start) / 1000).toFixed(1)}s`);
    const check = sampleCheck('redis-cache', REDIS_SLIM);
    expect(check.ok, check.output).toBe(true);
    expect(check.output).toMatch(/ok {3}redis-cache: data kept across docker restart/);
    expect(await entryOf(REDIS_SLIM, '/var/lib/redis')).toEqual(await entryOf('slim-samples/redis-cache:latest', '/var/lib/redis'));
    rmSync(dir, { recursive: true, force: true });
  });

  it('slims the batch sample with only --mount: traced to its exit, its output byte-identical', async () => {
    const dir = await tempDir();
    cpSync(new URL('../sample-apps/csv-batch/input', import.meta.url).pathname, join(dir, 'data', 'in'), { recursive: true });
    const start = Date.now();
    const run = await cli(['build', 'slim-samples/csv-batch:latest', '--tag', BATCH_SLIM, '--mount', `${join(dir, 'data')}:/data`], { cwd: dir });
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stderr).toMatch(/waiting for the app to exit/);
    expect(run.stdout).toMatch(/run \/usr\/local\/bin\/csv2md \/data\/in \/data\/out +0 +\d+B +0 +\d+B +same/);
    const report = JSON.parse(readFileSync(join(dir, 'slim.report.json'), 'utf8')) as { sizes: { original: { size: number }; slim: { size: number } } };
    console.log(`csv-batch: ${(report.sizes.original.size / 1e6).toFixed(1)} MB -> ${(report.sizes.slim.size / 1e6).toFixed(1)} MB in ${((Date.now() - start) / 1000).toFixed(1)}s`);
    expect(readdirSync(join(dir, 'data', 'out'))).toEqual(['people.md']);
    const check = sampleCheck('csv-batch', BATCH_SLIM);
    expect(check.ok, check.output).toBe(true);
    expect(check.output).toMatch(/with space.md byte-identical/);
    // The batch containers wrote as root.
    spawnSync('docker', ['run', '--rm', '-v', `${dir}:/work`, 'slim-samples/debian:bookworm', 'rm', '-rf', '/work/data'], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('--continue-after signal ends the trace at SIGUSR1, which only the CLI handles', async () => {
    const dir = await tempDir();
    const run = await cli(['build', LISTENER, '--tag', 'slim-test/run-listener:slim', '--exec', 'perl -e 1', '--continue-after', 'signal', '--no-verify'], {
      cwd: dir,
      onStderr: (text, child) => {
        if (/waiting for SIGUSR1 \(kill -USR1 \d+\)/.test(text) && !child.killed) child.kill('SIGUSR1');
      },
    });
    removeImage('slim-test/run-listener:slim');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/waiting for SIGUSR1/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});

describe('run flags', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--env', '1BAD=x'], /'1BAD' is not a variable name/],
    [['--env', 'SLIM_TEST_SURELY_UNSET'], /SLIM_TEST_SURELY_UNSET is not set here; give SLIM_TEST_SURELY_UNSET=VALUE/],
    [['--mount', '/data'], /use SRC:DST or SRC:DST:ro/],
    [['--mount', '/nonexistent/in:/data'], /\/nonexistent\/in does not exist/],
    [['--ready-log', '(unclosed'], /not a regular expression/],
    [['--continue-after', 'later'], /use probe, exec, exit, signal or timeout:SECONDS/],
    [['--cmd', '["a", 1]'], /a JSON command must be an array of strings/],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(' ')} is a usage error`, async () => {
      const run = await cli(['build', 'x', ...args]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(message);
    });
  }
});
