// A probe run: the image runs once in a labelled container, its ports
// published on 127.0.0.1, while the probes drive it; with a tracer inside
// (one of TRACERS) it comes back with a trace.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, ContainerSpec, Engine, ImageSummary } from './engine.js';
import { SlimError } from './errors.js';
import { envMap } from './image-config.js';
import { eachEntry, readBody } from './image/entries.js';
import { requireImage } from './image/read.js';
import { addressEnv, commandResult, execArgv, runExecProbe, runHostCommand } from './drivers/commands.js';
import { runHttpProbes, type CrawlOptions, type HttpProbe } from './drivers/http.js';
import type { ProbeResult } from './drivers/result.js';
import type { Cleanup } from './session.js';
import type { Trace } from './trace/trace.js';
import { TRACERS, type TracerName } from './tracers/index.js';
import { OUT_DIR, PROBE_DIR, SLIM_PROBE, STARTED_MARK, type AppLaunch, type Tracer } from './tracers/tracer.js';
import { probeBinDir, type CopyEntry } from './built.js';
import { chooseWaits, waitReady, type ReadyOptions, type Waiter, type WaitTarget } from './wait.js';

/**
 * When tracing ends: after the probes, after a time, when `until` resolves
 * (the CLI's SIGUSR1; the library installs no handler), or when the app exits.
 */
export type ContinueAfter =
  | { kind: 'probe' }
  | { kind: 'timeout'; seconds: number }
  | { kind: 'signal'; until: () => Promise<void> }
  | { kind: 'exit' };

export interface Probes {
  http: HttpProbe[];
  crawl?: CrawlOptions;
  exec: string[];
  hostExec: string[];
  /** Send the default `GET /` to every exposed port when no probe is given. */
  defaultHttp: boolean;
}

/** The image's config as this run overrides it (--cmd, --entrypoint, ...); the slim image keeps the original's. */
export interface RunOverrides {
  entrypoint?: string[];
  cmd?: string[];
  /** NAME=VALUE entries over the image's environment. */
  env?: string[];
  workdir?: string;
  user?: string;
  /** "SRC:DST[:ro]": a host directory or a volume. */
  mounts?: string[];
  network?: string;
}

export interface RunOptions {
  tracer: TracerName | 'none';
  probes: Probes;
  /** Waits the user asked for; without them the ports decide (see chooseWaits). */
  ready?: ReadyOptions;
  readyTimeoutMs: number;
  /** Default: until the app exits when it exposes no port and no probe is given, else after the probes. */
  continueAfter?: ContinueAfter;
  overrides?: RunOverrides;
  /** Seconds the app gets to stop after its stop signal (10 traced; untraced: 2 with a STOPSIGNAL, else killed at once). */
  stopTimeoutSeconds?: number;
  /** Adds the tracer's capability; false simulates an engine that refuses it. */
  grantCapability?: boolean;
  /** Container role in its name: trace, verify, compare, tune. */
  role: string;
  /** Still stop and collect the trace when the app exits early (tuning a slim image that cannot start). */
  tolerateExit?: boolean;
  /**
   * Called (traced runs of a service only) with the trace as it stood when the probes were done,
   * while the app is being stopped: what is planned on it holds when stopping touched nothing more.
   */
  onProbed?: (trace: Trace) => void;
  /** Commands run on the host against the running app, after the probes (verify --verify-cmd). */
  afterProbes?: (env: Record<string, string>, teardown: AbortSignal) => Promise<ProbeResult[]>;
}

/** How much of an app's log a run keeps. */
export const LOG_LINES = 400;

export interface RunResult {
  trace?: Trace;
  results: ProbeResult[];
  /** The app's log (its last LOG_LINES lines), compared between original and slim. */
  logs: string;
  exitCode?: number;
  /** The run lasted until the app exited (a batch job): replay it the same way. */
  ranToExit: boolean;
}

export type RunEvent = { stage: 'start' | 'ready' | 'probing' | 'stopping' | 'collecting'; detail?: string };

/** Which parts of the probe tree are built: slim-probe, and each tracer's bundle. */
export function probesBuilt(): { probe: boolean; tracers: Record<TracerName, boolean> } {
  const dir = probeBinDir();
  const tracers = Object.fromEntries(Object.entries(TRACERS as Record<TracerName, Tracer>).map(([name, t]) => [name, !t.bundle || existsSync(join(dir, t.bundle))])) as Record<TracerName, boolean>;
  return { probe: existsSync(join(dir, 'slim-probe')), tracers };
}

/** The /.slim tree put into the container: slim-probe, the tracer's bundle, an out dir only root can write. */
function probeFiles(name: TracerName): CopyEntry[] {
  const dir = probeBinDir();
  const tracer: Tracer = TRACERS[name];
  const built = probesBuilt();
  if (!built.probe) throw new SlimError('the probe binary is not built', { hint: 'run npm run build (needs gcc and libc6-dev); slim doctor checks the setup' });
  const bundle = tracer.bundle;
  if (bundle && !built.tracers[name]) throw new SlimError(`the ${name} tracer is not available`, { hint: tracer.bundleHint });
  return [
    { path: '.slim/', mode: 0o755 },
    { path: '.slim-out/', mode: 0o700 },
    { path: '.slim/slim-probe', mode: 0o755, data: readFileSync(join(dir, 'slim-probe')) },
    ...(bundle ? [
      { path: `.slim/${bundle}/`, mode: 0o755 },
      ...readdirSync(join(dir, bundle)).map((file) => ({ path: `.slim/${bundle}/${file}`, mode: statSync(join(dir, bundle, file)).mode & 0o777, data: readFileSync(join(dir, bundle, file)) })),
    ] : []),
  ];
}

/** What a run starts, as whom and where: the image's config under the run's overrides. */
interface RunConfig {
  command: string[];
  user: string;
  workdir: string;
  app: AppLaunch;
}

function runConfig(image: ImageSummary, ref: string, o: RunOverrides = {}): RunConfig {
  const entrypoint = o.entrypoint ?? image.config.Entrypoint ?? [];
  // As with docker run: a new entrypoint drops the image's CMD.
  const cmd = o.cmd ?? (o.entrypoint ? [] : image.config.Cmd ?? []);
  const command = [...entrypoint, ...cmd];
  if (command.length === 0) throw new SlimError(`image ${ref} has neither Entrypoint nor Cmd: there is no app to run`, { kind: 'usage', hint: 'set CMD or ENTRYPOINT in its Dockerfile, or pass --cmd' });
  const user = o.user ?? image.config.User ?? '';
  const env = [...(image.config.Env ?? []), ...(o.env ?? [])];
  return { command, user, workdir: o.workdir ?? (image.config.WorkingDir || '/'), app: { user, setHome: !envMap(env).has('HOME') } };
}

export const exposedTcpPorts = (image: ImageSummary): number[] =>
  Object.keys(image.config.ExposedPorts ?? {}).filter((p) => p.endsWith('/tcp') || !p.includes('/')).map((p) => parseInt(p, 10)).sort((a, b) => a - b);

/** The engine did not give the tracer what it needs (CAP_SYS_ADMIN for fanotify): --tracer auto moves on. */
export class TracerRefusedError extends SlimError {
  constructor(readonly tracer: TracerName, detail: string) {
    super(`the ${tracer} tracer could not start: ${detail}`, { hint: TRACERS[tracer].refusedHint });
  }
}


async function failure(container: Container, message: string, hint: string): Promise<SlimError> {
  const logs = await container.logs(30).catch(() => '');
  return new SlimError(`${message}${logs.trim() ? `\n--- last lines of the app's log ---\n${logs.trimEnd()}` : ''}`, { hint });
}

/** The files under `path` in the container, by name relative to it. */
async function readFiles(container: Container, path: string): Promise<Map<string, Buffer>> {
  const top = path.split('/').pop()!;
  const onHost = await readLayerFiles(container, path, top);
  if (onHost) return onHost;
  const files = new Map<string, Buffer>();
  await eachEntry(await container.getArchive(path), async (header, body) => {
    files.set(header.name === top ? top : header.name.slice(top.length + 1), await readBody(body));
  });
  return files;
}

/**
 * The same files read in the container's layer directory, when this process can (as root, on
 * the engine's host): copying them out through the engine holds the container for 150-250 ms,
 * and the stop signal waits behind it. The directory's name is random to this container, so
 * finding it here proves this is the engine's host. Undefined when it cannot, or when the path
 * is not in the container's own layer: the engine then finds it, or says why not.
 */
async function readLayerFiles(container: Container, path: string, top: string): Promise<Map<string, Buffer> | undefined> {
  const layer = process.getuid?.() === 0 ? await container.layerDir() : undefined;
  if (!layer) return undefined;
  const where = join(layer, path);
  try {
    if (!statSync(where).isDirectory()) return new Map([[top, readFileSync(where)]]);
    const names = readdirSync(where, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
    return new Map(names.map((name) => [name, readFileSync(join(where, name))]));
  } catch {
    return undefined;
  }
}

/**
 * The trace of a running app as far as its tracer has written it; a last line
 * still being written is left out. Undefined when it cannot be read or parsed.
 */
async function traceSoFar(container: Container, tracer: Tracer, workdir: string): Promise<Trace | undefined> {
  try {
    const files = await readFiles(container, OUT_DIR);
    for (const [name, data] of files) files.set(name, data.subarray(0, data.lastIndexOf(0x0a) + 1));
    return tracer.parse(files, container.name, workdir);
  } catch {
    return undefined;
  }
}

/**
 * Whether the app started, from slim-probe's STARTED_MARK: no mark means the
 * tracer failed; an empty one that the app started; otherwise why it could not.
 */
async function startOf(container: Container): Promise<{ started: boolean; failure?: string }> {
  const mark = await readFiles(container, STARTED_MARK).catch(() => undefined);
  const text = mark?.values().next().value?.toString('utf8');
  if (text === undefined) return { started: false };
  return text ? { started: false, failure: text } : { started: true };
}

/** Why a container that should be running has exited, if it has: the tracer refused, the app could not start, or it quit. */
async function exitedEarly(container: Container, tracer: TracerName | 'none'): Promise<SlimError | undefined> {
  const state = await container.state();
  if (state.running) return undefined;
  if (tracer !== 'none') {
    const start = await startOf(container);
    if (start.failure) return new SlimError(`the app could not be started: ${start.failure}`, { kind: 'usage', hint: "check the image's USER, or pass --user" });
    if (!start.started) return new TracerRefusedError(tracer, (await container.logs(10)).trim().split('\n').pop() ?? '');
  }
  return failure(container, `the app exited with code ${state.exitCode} before it answered`, 'check that the image runs on its own (docker run IMAGE); its log is above');
}

/**
 * Whether a tracer works on this engine: the probe starts in a container of
 * `image` with the tracer's one capability and runs its own --version under it.
 */
export async function checkTracer(engine: Engine, image: string, tracer: TracerName, cleanup: Cleanup): Promise<{ ok: boolean; detail: string }> {
  const summary = await engine.inspectImage(image);
  if (!summary) return { ok: false, detail: `no local image ${image} to test with (pass --image with any local image)` };
  const container = cleanup.add(await engine.createContainer({
    image: summary.id,
    role: 'doctor',
    entrypoint: TRACERS[tracer].entrypoint([SLIM_PROBE, '--version'], { user: '', setHome: false }),
    cmd: [],
    user: '0:0',
    capAdd: [TRACERS[tracer].capability],
    files: probeFiles(tracer),
  }));
  try {
    await container.start();
    await container.waitExit(20_000);
    const { exitCode } = await container.state();
    const logs = (await container.logs(5)).trim().split('\n').pop() ?? '';
    return exitCode === 0 ? { ok: true, detail: 'works' } : { ok: false, detail: `exit ${exitCode}: ${logs}` };
  } finally {
    await container.remove();
    cleanup.delete(container);
  }
}

/** Sends the HTTP probes, the exec probes and the host commands to a running app. */
async function driveProbes(target: WaitTarget, ref: string, http: HttpProbe[], execProbe: (cmd: string) => Promise<ProbeResult>, opts: RunOptions, teardown: AbortSignal, onEvent: (e: RunEvent) => void): Promise<ProbeResult[]> {
  onEvent({ stage: 'probing' });
  const ports = [...target.hostPorts.keys()];
  const results: ProbeResult[] = [];
  if (http.length > 0) {
    if (ports.length === 0) throw new SlimError(`image ${ref} exposes no port, so HTTP probes have nowhere to go`, { kind: 'usage', hint: 'use --exec probes, or EXPOSE the port in the Dockerfile' });
    const httpTarget = {
      defaultPort: [...target.httpPorts][0] ?? ports[0]!,
      hostPort: (p: number) => {
        const host = target.hostPorts.get(p);
        if (host === undefined) throw new SlimError(`probe port ${p} is not exposed by ${ref} (it exposes ${ports.join(', ')})`, { kind: 'usage', hint: 'use --http-probe-port with an exposed port' });
        return host;
      },
    };
    results.push(...(await runHttpProbes(httpTarget, http, { crawl: opts.probes.crawl })));
  }
  for (const cmd of opts.probes.exec) results.push(await execProbe(cmd));
  const env = addressEnv(target.hostPorts, target.container.name);
  for (const cmd of opts.probes.hostExec) results.push(await runHostCommand(cmd, env, { signal: teardown }));
  if (opts.afterProbes) results.push(...(await opts.afterProbes(env, teardown)));
  return results;
}

/**
 * Waits until the run may end, as --continue-after says (the app's exit is
 * awaited by the caller), or until the run is torn down (Ctrl-C).
 */
async function continueAfter(after: ContinueAfter, onEvent: (e: RunEvent) => void, teardown: AbortSignal): Promise<void> {
  let stop = () => {};
  const aborted = new Promise<void>((resolve) => (stop = resolve));
  teardown.addEventListener('abort', stop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    if (after.kind === 'timeout') await Promise.race([new Promise((r) => (timer = setTimeout(r, after.seconds * 1000))), aborted]);
    if (after.kind === 'signal') {
      onEvent({ stage: 'probing', detail: 'waiting for the signal that ends the run' });
      await Promise.race([after.until(), aborted]);
    }
  } finally {
    clearTimeout(timer);
    teardown.removeEventListener('abort', stop);
  }
  teardown.throwIfAborted();
}

/** The container of a run: the image's command wrapped by the tracer (which runs as root with its one capability), or as is. */
async function containerSpec(image: ImageSummary, run: RunConfig, ports: number[], opts: RunOptions): Promise<ContainerSpec> {
  const { tracer } = opts;
  const o = opts.overrides ?? {};
  return {
    image: image.id,
    role: opts.role,
    ...(tracer === 'none'
      ? { entrypoint: o.entrypoint, cmd: o.cmd ?? (o.entrypoint ? [] : undefined), user: o.user }
      : { entrypoint: TRACERS[tracer].entrypoint(run.command, run.app), cmd: [], user: '0:0' }),
    env: o.env,
    workingDir: o.workdir,
    binds: o.mounts,
    network: o.network,
    publish: ports.map((p) => `${p}/tcp`),
    capAdd: tracer !== 'none' && opts.grantCapability !== false ? [TRACERS[tracer].capability] : [],
    // A root app (or a command probe) could otherwise replace slim-probe, which every exec runs with the capability.
    readOnlyPaths: tracer === 'none' ? undefined : [PROBE_DIR],
    files: tracer === 'none' ? [] : probeFiles(tracer),
  };
}

/** Runs the waits; returns why the app is not ready (it exited, the tracer refused, a wait timed out), if it is not. */
async function awaitReady(target: WaitTarget, ports: number[], waits: Waiter[], opts: RunOptions, onEvent: (e: RunEvent) => void): Promise<SlimError | undefined> {
  const { container } = target;
  try {
    for (const port of ports) target.hostPorts.set(port, await container.hostPort(`${port}/tcp`));
    const missed = await waitReady(target, waits, opts.readyTimeoutMs, (what) => onEvent({ stage: 'start', detail: `waiting for ${what}` }));
    const exited = await exitedEarly(container, opts.tracer);
    if (exited || !missed) return exited;
    return await failure(container, `${missed.missed} within ${Math.round(opts.readyTimeoutMs / 1000)}s`, missed.hint);
  } catch (err) {
    return (await exitedEarly(container, opts.tracer)) ?? (err as SlimError);
  }
}

/** How long a batch run may take before slim gives up on it. */
const BATCH_LIMIT_MS = 6 * 3600_000;

/**
 * Runs `ref` once with the probes. The container is tracked by `cleanup`
 * until it is removed, so an error or Ctrl-C anywhere removes it too; its
 * removal starts when the run ends, and `cleanup.run()` waits for it.
 */
export async function runWithProbes(engine: Engine, ref: string, opts: RunOptions, cleanup: Cleanup, onEvent: (e: RunEvent) => void = () => {}): Promise<RunResult> {
  const image = await requireImage(engine, ref);
  const run = runConfig(image, ref, opts.overrides);
  const ports = exposedTcpPorts(image);
  const { tracer, probes } = opts;
  const anyProbe = probes.http.length > 0 || probes.crawl !== undefined || probes.exec.length > 0 || probes.hostExec.length > 0;
  const after = opts.continueAfter ?? (ports.length === 0 && !anyProbe ? { kind: 'exit' } : { kind: 'probe' });
  // HTTP is spoken only when asked for, or as the default probe when no command probe is given.
  const defaultHttp = probes.defaultHttp && probes.http.length === 0 && probes.exec.length === 0 && probes.hostExec.length === 0 && after.kind !== 'exit';
  const speaksHttp = probes.http.length > 0 || defaultHttp;
  const traced = tracer === 'none' ? undefined : TRACERS[tracer];
  const container = cleanup.add(await engine.createContainer(await containerSpec(image, run, ports, opts)));
  let execs = 0;
  // Command probes run through the tracer so that it sees them, as the app's user, without the tracer's capability.
  const execProbe = (command: string): Promise<ProbeResult> => traced
    ? runExecProbe(container, traced.execCommand(execArgv(command), run.app, String(++execs)), command, '0:0')
    : runExecProbe(container, execArgv(command), command, run.user || undefined);
  try {
    onEvent({ stage: 'start', detail: container.name });
    await container.start();
    const target: WaitTarget = { container, hostPorts: new Map(), httpPorts: new Set(), exec: execProbe };
    const waits = chooseWaits(opts.ready ?? {}, after.kind === 'exit' ? [] : ports, speaksHttp);
    let exited = await awaitReady(target, ports, waits, opts, onEvent);
    // A batch job may be done before anything waited for it: once it has started, its exit is its answer.
    if (after.kind === 'exit' && exited && !(await container.state()).running && (tracer === 'none' || (await startOf(container)).started)) exited = undefined;
    // When tuning, an app that cannot even start still leaves a trace of what it looked for.
    const keepGoing = opts.tolerateExit && tracer !== 'none' && !(exited instanceof TracerRefusedError);
    if (exited && !keepGoing) throw exited;
    if (!exited) {
      const silent = speaksHttp ? ports.filter((p) => !target.httpPorts.has(p)) : [];
      onEvent({ stage: 'ready', detail: silent.length ? `port ${silent.join(', ')} does not answer HTTP: no default probe goes there` : undefined });
    }
    const http = [...probes.http];
    if (defaultHttp) for (const port of target.httpPorts) http.push({ method: 'GET', path: '/', port });
    const running = (await container.state()).running;
    const results = exited || !running ? [] : await driveProbes(target, ref, http, execProbe, opts, cleanup.signal, onEvent);

    if (after.kind === 'exit') {
      onEvent({ stage: 'probing', detail: 'waiting for the app to exit (--continue-after exit)' });
      await container.waitExit(BATCH_LIMIT_MS);
      const output = Buffer.from(await container.logs(1_000_000));
      const { exitCode } = await container.state();
      const refused = tracer === 'none' || (await startOf(container)).started ? undefined : await exitedEarly(container, tracer);
      if (refused) throw refused;
      results.push(commandResult('run', `run ${run.command.join(' ')}`, exitCode, output));
    } else {
      await continueAfter(after, onEvent, cleanup.signal);
      // Asked for before the stop signal is sent; the caller compares it with the whole trace.
      const { onProbed } = opts;
      if (traced && onProbed) void traceSoFar(container, traced, run.workdir).then((trace) => trace && onProbed(trace));
    }

    onEvent({ stage: 'stopping' });
    // A traced app gets its stop signal and time to flush (the probe forwards the signal), so what it
    // touches while stopping is kept. Untraced runs (verify, compare) compare the probes' answers and
    // the log up to them, and both images stop the same way: without a STOPSIGNAL, the app is killed
    // at once (PID 1 without a handler is deaf to SIGTERM, which cost a whole grace per run); an image
    // that names its STOPSIGNAL says how it shuts down, and gets it with a short grace.
    const stopSignal = image.config.StopSignal;
    const grace = opts.stopTimeoutSeconds ?? (tracer !== 'none' ? 10 : stopSignal ? 2 : 0);
    if (grace > 0) await container.kill(stopSignal || 'SIGTERM');
    if (grace === 0 || !(await container.waitExit(grace * 1000))) {
      await container.kill('SIGKILL');
      await container.waitExit(10_000);
    }
    if (traced) onEvent({ stage: 'collecting' });
    // Enough of the log to compare what the app said from start to stop; the state and the trace, asked for at once.
    const [logs, state, files] = await Promise.all([container.logs(LOG_LINES), container.state(), traced && readFiles(container, OUT_DIR)]);
    const trace = traced && files ? traced.parse(files, container.name, run.workdir) : undefined;
    if (trace?.overflow) throw new SlimError(`the ${tracer} tracer lost events (its queue overflowed): the trace is incomplete`, { hint: 'run again, or use another --tracer' });
    return { trace, results, logs, exitCode: state.exitCode, ranToExit: after.kind === 'exit' };
  } finally {
    cleanup.release(container);
  }
}
