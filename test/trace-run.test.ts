// Trace runs on the real engine: both tracers, the fallback, and Ctrl-C.
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { TracerRefusedError, runWithProbes, type RunOptions } from '../src/run.js';
import { build, type KeepOptions } from '../src/build.js';
import { cleanupAfterEach, cli, engine, imageExists, removeImage, slimContainers, slimHolds } from './engine-helpers.js';

const runs = cleanupAfterEach();

const probes = { http: [{ method: 'GET', path: '/' }, { method: 'GET', path: '/clock/' }], exec: [], hostExec: [], defaultHttp: false };
const STOPPING = 'slim-test/reads-when-stopping:1';
// A file the app opens only once it is told to stop, and not at once (the trace so far is read as the
// stop signal goes out): the plan made while it stops cannot know it.
const STOPPING_DOCKERFILE = `FROM slim-samples/c-hello:latest
USER root
RUN mkdir -p /etc/app && echo 'goodbye' > /etc/app/farewell.txt
ENTRYPOINT ["/bin/sh", "-c", "trap 'sleep 2; read line < /etc/app/farewell.txt; exit 0' TERM; /usr/local/bin/hello 8080 & wait"]
CMD []
`;
const keepNothingExtra = { rules: [], includePacks: [], excludePacks: [], languages: new Set<never>(), appDirs: true };
const planDetails = (events: Array<{ stage: string; state?: string; detail?: string }>) => events.filter((e) => e.stage === 'plan' && e.state === 'done').map((e) => e.detail ?? '');
/** Slim images in the engine made from the same source as the slim image `id`. */
const slimImagesOf = (id: string): string[] => {
  const source = execFileSync('docker', ['image', 'inspect', '--format', '{{index .Config.Labels "io.slim.source-id"}}', id], { encoding: 'utf8' }).trim();
  return execFileSync('docker', ['images', '-q', '--no-trunc', '--filter', `label=io.slim.source-id=${source}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
};
const options = (tracer: RunOptions['tracer']): RunOptions => ({ tracer, probes, readyTimeoutMs: 60_000, continueAfter: { kind: 'probe' }, role: 'test' });

describe('trace run', () => {
  afterAll(() => ['slim-test/run-fallback:slim', STOPPING, `${STOPPING}-slim`].forEach(removeImage));

  it('fanotify sees the interpreter, Django modules and the probed templates', async () => {
    const run = await runWithProbes(engine, 'slim-samples/django-site:latest', options('fanotify'), runs);
    const paths = [...run.trace!.paths.keys()];
    expect(run.trace!.paths.get('/usr/bin/python3.11')?.has('exec')).toBe(true);
    expect(paths.some((p) => p.startsWith('/usr/lib/python3/dist-packages/django/template/'))).toBe(true);
    expect(paths).toContain('/srv/site/clock/templates/clock/clock.html');
    expect(paths).toContain('/srv/site/pages/templates/pages/home.html');
    expect(paths).not.toContain('/srv/site/pages/templates/pages/about.html');
    expect(run.results.map((r) => r.status)).toEqual([200, 200]);
  });

  it('strace also sees failed lookups and stat-only paths', async () => {
    const run = await runWithProbes(engine, 'slim-samples/django-site:latest', options('strace'), runs);
    const entries = [...run.trace!.paths];
    expect(entries.filter(([, ops]) => ops.has('missing')).length).toBeGreaterThan(20);
    expect(entries.filter(([, ops]) => ops.size === 1 && ops.has('stat')).length).toBeGreaterThan(20);
    expect(run.trace!.paths.has('/srv/site/clock/templates/clock/clock.html')).toBe(true);
  });

  it('says so when the engine refuses CAP_SYS_ADMIN, and auto falls back to strace', async () => {
    const refused = runWithProbes(engine, 'slim-samples/c-hello:latest', { ...options('fanotify'), probes: { ...probes, http: [{ method: 'GET', path: '/' }] }, grantCapability: false }, runs);
    await expect(refused).rejects.toBeInstanceOf(TracerRefusedError);
    const notices: string[] = [];
    const result = await build(engine, {
      image: 'slim-samples/c-hello:latest', tag: 'slim-test/run-fallback:slim',
      run: { tracer: 'auto', grantCapability: false, probes: { http: [], exec: [], hostExec: [], defaultHttp: true }, readyTimeoutMs: 30_000, continueAfter: { kind: 'probe' } },
      plan: { rules: [], includePacks: [], excludePacks: [], languages: new Set(), appDirs: true },
      verify: { probes: [] },
    }, runs, (e) => e.stage === 'notice' && notices.push(e.message));
    expect(result.tracer).toBe('strace');
    expect(notices.join()).toMatch(/refused CAP_SYS_ADMIN.*strace/);
    expect(result.verification?.equivalent).toBe(true);
  });

  it('the plan made while the app stops is taken only when stopping touched nothing more, its image also when stopping changed no kept path', async () => {
    execFileSync('docker', ['build', '-q', '-t', STOPPING, '-'], { input: STOPPING_DOCKERFILE, stdio: ['pipe', 'ignore', 'inherit'] });
    const slimOf = async (image: string, tag: string, rules: KeepOptions['rules'] = []) => {
      const events: Array<{ stage: string; state?: string; detail?: string }> = [];
      const result = await build(engine, {
        image, tag,
        run: { tracer: 'fanotify', probes: { http: [{ method: 'GET', path: '/' }], exec: [], hostExec: [], defaultHttp: false }, readyTimeoutMs: 30_000 },
        plan: { ...keepNothingExtra, rules }, verify: false,
      }, runs, (e) => events.push(e as never));
      return { result, plans: planDetails(events) };
    };
    const stopping = await slimOf(STOPPING, `${STOPPING}-slim`);
    expect(stopping.result.trace.paths.has('/etc/app/farewell.txt')).toBe(true);
    expect(stopping.result.plan.paths.get('/etc/app/farewell.txt')?.join()).toMatch(/traced/);
    expect(stopping.plans).toEqual([expect.not.stringMatching(/planned while the app stopped/)]);
    // The image of the plan not taken was written ahead, and is gone: only the tagged one is left of that source.
    expect(stopping.result.layers.via).not.toBe('written while the app stopped');
    expect(slimImagesOf(stopping.result.id)).toEqual([stopping.result.id]);
    // Stopping touched only what rules keep anyway (the file, and sleep with its locale): the plan is
    // made again, for its reasons, and the image written ahead is taken. /etc/issue.net: a new layer.
    const keptAnyway = await slimOf(STOPPING, `${STOPPING}-slim`, ['/etc/app/farewell.txt', '/usr/bin/sleep', '/usr/lib/locale/C.utf8/**', '/etc/issue.net'].map((pattern) => ({ pattern, exclude: false, source: 'trace-run test' })));
    expect(keptAnyway.plans).toEqual([expect.not.stringMatching(/planned while the app stopped/)]);
    expect(keptAnyway.result.plan.paths.get('/etc/app/farewell.txt')?.join()).toMatch(/traced/);
    expect(keptAnyway.result.layers.via).toBe('written while the app stopped');
    expect(slimImagesOf(keptAnyway.result.id)).toEqual([keptAnyway.result.id]);
    // One file more than other builds of c-hello keep: a layer the engine lacks.
    const ownLayer = [{ pattern: '/etc/issue.net', exclude: false, source: 'trace-run test' }];
    const plain = await slimOf('slim-samples/c-hello:latest', 'slim-test/run-fallback:slim', ownLayer);
    expect(plain.plans).toEqual([expect.stringMatching(/planned while the app stopped/)]);
    expect(plain.result.layers.via).toBe('written while the app stopped');
    // The same again: written ahead too, but the engine had it, and the build says so.
    const again = await slimOf('slim-samples/c-hello:latest', 'slim-test/run-fallback:slim', ownLayer);
    expect(again.result.id).toBe(plain.result.id);
    expect(again.result.layers.via).toBe('already in the engine');
    // The name that held the image while it was written ahead goes with the build: the tag is its only name.
    expect((await engine.inspectImage(plain.result.id))?.repoTags).toEqual(['slim-test/run-fallback:slim']);
    expect(slimHolds()).toEqual([]);
  });

  it('Ctrl-C while the probes run leaves no container and no output tag', async () => {
    const tag = 'slim-test/run-interrupted:slim';
    let interrupting: NodeJS.Timeout | undefined;
    const run = await cli(['build', 'slim-samples/django-site:latest', '--tag', tag, '--continue-after', 'timeout:30'], {
      onStderr: (text, child) => {
        // Once: a second Ctrl-C would be the user insisting.
        if (/start: slim-trace/.test(text) && !interrupting) interrupting = setTimeout(() => child.kill('SIGINT'), 1500);
      },
    });
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/SIGINT: stopping and cleaning up/);
    expect(slimContainers()).toEqual([]);
    expect(imageExists(tag)).toBe(false);
    expect(imageExists('slim-samples/django-site:latest')).toBe(true);
  });

  it('slim doctor reports the engine and that both tracers work in a container', async () => {
    const run = await cli(['doctor']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/engine: Docker \S+ \(API [\d.]+\), storage \w+/);
    expect(run.stdout).toMatch(/fanotify in a container \(CAP_SYS_ADMIN\): works/);
    expect(run.stdout).toMatch(/strace in a container \(CAP_SYS_PTRACE\): works/);
    const missing = await cli(['doctor', '--image', 'slim-test/no-such-image:1']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/no local image slim-test\/no-such-image:1 to test with/);
  });

  it('leaves no container behind', () => {
    expect(slimContainers()).toEqual([]);
  });
});
