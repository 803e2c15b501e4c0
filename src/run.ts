// A probe run: the image runs once in a labelled container, its ports
// published on 127.0.0.1, while the probes drive it; with a tracer inside
// (slim-probe with fanotify, or strace) it comes back with a trace.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { Container, Engine, ImageSummary } from './engine.js';
import { SlimError } from './errors.js';
import { requireImage } from './image/read.js';
import { addressEnv, runExecProbe, runHostCommand } from './drivers/commands.js';
import { fetchWithin, runHttpProbes, type CrawlOptions, type HttpProbe } from './drivers/http.js';
import type { ProbeResult } from './drivers/result.js';
import type { Cleanup } from './session.js';
import { parseFanotifyRecord, parseStrace, type ProbeKind, type Trace } from './trace/trace.js';

export type Tracer = ProbeKind | 'none';
export type ContinueAfter = { kind: 'probe' } | { kind: 'timeout'; seconds: number } | { kind: 'signal' };

export interface Probes {
  http: HttpProbe[];
  crawl?: CrawlOptions;
  exec: string[];
  hostExec: string[];
  /** Send the default `GET /` to every exposed port when no probe is given. */
  defaultHttp: boolean;
}

export interface RunOptions {
  tracer: Tracer;
  probes: Probes;
  readyTimeoutMs: number;
  continueAfter: ContinueAfter;
  /** Seconds the app gets to stop after its stop signal (10 traced, 2 untraced). */
  stopTimeoutSeconds?: number;
  /** Adds the tracer's capability; false simulates an engine that refuses it. */
  grantCapability?: boolean;
  /** Container role in its name: trace, verify, compare, tune. */
  role: string;
  /** Still stop and collect the trace when the app exits early (tuning a slim image that cannot start). */
  tolerateExit?: boolean;
  /** Commands run on the host against the running app, after the probes (verify --verify-cmd). */
  afterProbes?: (env: Record<string, string>) => Promise<ProbeResult[]>;
}

export interface RunResult {
  trace?: Trace;
  results: ProbeResult[];
  /** The app's logs tail, for reports and errors. */
  logs: string;
  exitCode?: number;
}

export type RunEvent = { stage: 'start' | 'ready' | 'probing' | 'stopping' | 'collecting'; detail?: string };

const PROBE_DIR = '/.slim';
const OUT_DIR = `${PROBE_DIR}/out`;
const PROBE_FAILED = 125;

/** Where `npm install` put the built probes. */
export function probeBinDir(): string {
  return join(dirname(dirname(fileURLToPath(import.meta.url))), 'probes', 'bin');
}

export function probesBuilt(): { probe: boolean; strace: boolean } {
  const dir = probeBinDir();
  return { probe: existsSync(join(dir, 'slim-probe')), strace: existsSync(join(dir, 'strace', 'loader')) };
}

/** The /.slim tree copied into the container: the probe, strace's bundle, a writable out dir. */
async function probeArchive(tracer: ProbeKind): Promise<Buffer> {
  const dir = probeBinDir();
  const built = probesBuilt();
  if (!built.probe) throw new SlimError('the probe binary is not built', { hint: 'run npm run build (needs gcc and libc6-dev); slim doctor checks the setup' });
  if (tracer === 'strace' && !built.strace) throw new SlimError('the strace probe is not available: strace was not installed when slim was built', { hint: 'apt-get install strace, then npm run build; or use --probe fanotify' });
  const pack = tar.pack();
  const entry = (name: string, mode: number, data?: Buffer) => pack.entry({ name, mode, uid: 0, gid: 0, mtime: new Date(0), type: data ? 'file' : 'directory' }, data ?? Buffer.alloc(0));
  entry('.slim/', 0o755);
  entry('.slim/out/', 0o1777);
  entry('.slim/slim-probe', 0o755, readFileSync(join(dir, 'slim-probe')));
  if (tracer === 'strace') {
    entry('.slim/strace/', 0o755);
    for (const name of readdirSync(join(dir, 'strace'))) {
      const file = join(dir, 'strace', name);
      entry(`.slim/strace/${name}`, statSync(file).mode & 0o777, readFileSync(file));
    }
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const STRACE_ARGS = ['-f', '-qq', '-y', '--seccomp-bpf', '-e', 'signal=none', '-e', 'trace=%file,%process,getdents64', '-o', `${OUT_DIR}/trace.strace`];

function entrypointFor(tracer: ProbeKind, image: ImageSummary, command: string[]): string[] {
  const user = image.config.User;
  const hasHome = (image.config.Env ?? []).some((e) => e.startsWith('HOME='));
  const probe = [`${PROBE_DIR}/slim-probe`, ...(user ? ['--user', user, ...(hasHome ? [] : ['--set-home'])] : [])];
  if (tracer === 'fanotify') return [...probe.slice(0, 1), '--fanotify', `${OUT_DIR}/trace.rec`, ...probe.slice(1), '--', ...command];
  const loader = readFileSync(join(probeBinDir(), 'strace', 'loader'), 'utf8').trim();
  const strace = [`${PROBE_DIR}/strace/${loader}`, '--library-path', `${PROBE_DIR}/strace`, `${PROBE_DIR}/strace/strace`];
  return [...probe, '--', ...strace, ...STRACE_ARGS, '--', ...command];
}

export function imageCommand(image: ImageSummary, ref: string): string[] {
  const command = [...(image.config.Entrypoint ?? []), ...(image.config.Cmd ?? [])];
  if (command.length === 0) throw new SlimError(`image ${ref} has neither Entrypoint nor Cmd: there is no app to run`, { kind: 'usage', hint: 'set CMD or ENTRYPOINT in its Dockerfile' });
  return command;
}

export const exposedTcpPorts = (image: ImageSummary): number[] =>
  Object.keys(image.config.ExposedPorts ?? {}).filter((p) => p.endsWith('/tcp') || !p.includes('/')).map((p) => parseInt(p, 10)).sort((a, b) => a - b);

/** The engine did not give the probe what it needs (CAP_SYS_ADMIN for fanotify): --probe auto falls back. */
export class ProbeRefusedError extends SlimError {
  constructor(readonly tracer: ProbeKind, detail: string) {
    super(`the ${tracer} probe could not start: ${detail}`, {
      hint: tracer === 'fanotify' ? 'the engine must allow CAP_SYS_ADMIN for fanotify; use --probe strace (or auto) on rootless engines' : 'the engine must allow CAP_SYS_PTRACE for strace',
    });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function failure(container: Container, message: string, hint: string): Promise<SlimError> {
  const logs = await container.logs(30).catch(() => '');
  return new SlimError(`${message}${logs.trim() ? `\n--- last lines of the app's log ---\n${logs.trimEnd()}` : ''}`, { hint });
}

/** Why a container that should be running has exited, if it has: the probe refused, or the app quit. */
async function exitedEarly(container: Container, tracer: Tracer): Promise<SlimError | undefined> {
  const state = await container.state();
  if (state.running) return undefined;
  if (state.exitCode === PROBE_FAILED && tracer !== 'none') {
    return new ProbeRefusedError(tracer, (await container.logs(10)).trim().split('\n').pop() ?? '');
  }
  return failure(container, `the app exited with code ${state.exitCode} before it answered`, 'check that the image runs on its own (docker run IMAGE); its log is above');
}

/** How long the other ports get once one answers: a port that stays silent speaks something else (TLS, gRPC). */
const OTHER_PORTS_GRACE_MS = 10_000;

/**
 * Waits until the app answers HTTP (any status) on its ports, or exits.
 * Returns the ports that answered; once one has, the others get a short grace.
 */
async function waitReady(container: Container, ports: Map<number, number>, timeoutMs: number): Promise<Set<number>> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(ports.keys());
  const answered = new Set<number>();
  let firstAnswer = 0;
  while (pending.size > 0) {
    if (!(await container.state()).running) return answered; // the caller says why
    for (const port of [...pending]) {
      try {
        await fetchWithin(`http://127.0.0.1:${ports.get(port)}/`, { redirect: 'manual' }, 2000);
        pending.delete(port);
        answered.add(port);
        firstAnswer ||= Date.now();
      } catch {
        // not listening yet, or not HTTP
      }
    }
    if (pending.size === 0 || (firstAnswer && Date.now() - firstAnswer > OTHER_PORTS_GRACE_MS)) return answered;
    if (Date.now() > deadline) {
      throw await failure(container, `the app did not answer HTTP on port ${[...pending].join(', ')} within ${Math.round(timeoutMs / 1000)}s`, 'raise --ready-timeout, or set --http-probe-port to the port the app serves HTTP on');
    }
    await sleep(250);
  }
  return answered;
}

async function collect(container: Container, tracer: ProbeKind, workdir: string): Promise<Trace> {
  const stream: Readable = await container.getArchive(OUT_DIR);
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    const chunks: Buffer[] = [];
    body.on('data', (c) => chunks.push(c as Buffer));
    body.on('end', () => {
      files.set(header.name.replace(/^out\//, ''), Buffer.concat(chunks));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    stream.on('error', reject);
    stream.pipe(extract);
  });
  const name = tracer === 'fanotify' ? 'trace.rec' : 'trace.strace';
  const data = files.get(name);
  if (!data) throw new SlimError(`collecting the trace: ${name} is missing from ${container.name}`);
  return tracer === 'fanotify' ? parseFanotifyRecord(data, `trace record of ${container.name}`) : parseStrace(data, workdir);
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => process.once('SIGUSR1', () => resolve()));
}

/**
 * Whether a tracer works on this engine: the probe starts in a container of
 * `image` with the tracer's one capability and runs its own --version under it.
 */
export async function checkTracer(engine: Engine, image: string, tracer: ProbeKind, cleanup: Cleanup): Promise<{ ok: boolean; detail: string }> {
  const summary = await engine.inspectImage(image);
  if (!summary) return { ok: false, detail: `no local image ${image} to test with (pass --image with any local image)` };
  const container = cleanup.add(await engine.createContainer({
    image: summary.id,
    role: 'doctor',
    entrypoint: entrypointFor(tracer, { ...summary, config: { ...summary.config, User: '' } }, [`${PROBE_DIR}/slim-probe`, '--version']),
    cmd: [],
    user: '0:0',
    capAdd: [tracer === 'fanotify' ? 'SYS_ADMIN' : 'SYS_PTRACE'],
    files: [{ dir: '/', archive: await probeArchive(tracer) }],
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
async function driveProbes(container: Container, image: ImageSummary, ref: string, hostPorts: Map<number, number>, httpPorts: Set<number>, opts: RunOptions, onEvent: (e: RunEvent) => void): Promise<ProbeResult[]> {
  onEvent({ stage: 'probing' });
  const ports = [...hostPorts.keys()];
  const http = [...opts.probes.http];
  if (http.length === 0 && opts.probes.defaultHttp) for (const port of httpPorts) http.push({ method: 'GET', path: '/', port });
  const results: ProbeResult[] = [];
  if (http.length > 0) {
    if (ports.length === 0) throw new SlimError(`image ${ref} exposes no port, so HTTP probes have nowhere to go`, { kind: 'usage', hint: 'use --exec probes, or EXPOSE the port in the Dockerfile' });
    const target = {
      defaultPort: [...httpPorts][0] ?? ports[0]!,
      hostPort: (p: number) => {
        const host = hostPorts.get(p);
        if (host === undefined) throw new SlimError(`probe port ${p} is not exposed by ${ref} (it exposes ${ports.join(', ')})`, { kind: 'usage', hint: 'use --http-probe-port with an exposed port' });
        return host;
      },
    };
    results.push(...(await runHttpProbes(target, http, { crawl: opts.probes.crawl })));
  }
  for (const cmd of opts.probes.exec) results.push(await runExecProbe(container, cmd, image.config.User || undefined));
  const env = addressEnv(hostPorts, container.name);
  for (const cmd of opts.probes.hostExec) results.push(await runHostCommand(cmd, env));
  if (opts.afterProbes) results.push(...(await opts.afterProbes(env)));

  const after = opts.continueAfter;
  if (after.kind === 'timeout') await sleep(after.seconds * 1000);
  if (after.kind === 'signal') {
    onEvent({ stage: 'probing', detail: `waiting for SIGUSR1 (kill -USR1 ${process.pid}) to end the run` });
    await waitForSignal();
  }
  return results;
}

/**
 * Runs `ref` once with the probes. The container is tracked by `cleanup`
 * until it is removed, so an error or Ctrl-C anywhere removes it too.
 */
export async function runWithProbes(engine: Engine, ref: string, opts: RunOptions, cleanup: Cleanup, onEvent: (e: RunEvent) => void = () => {}): Promise<RunResult> {
  const image = await requireImage(engine, ref);
  const command = imageCommand(image, ref);
  const ports = exposedTcpPorts(image);
  const tracer = opts.tracer;
  const capability = tracer === 'fanotify' ? 'SYS_ADMIN' : 'SYS_PTRACE';
  const container = cleanup.add(await engine.createContainer({
    image: image.id,
    role: opts.role,
    ...(tracer === 'none' ? {} : { entrypoint: entrypointFor(tracer, image, command), cmd: [], user: '0:0' }),
    publish: ports.map((p) => `${p}/tcp`),
    capAdd: tracer !== 'none' && opts.grantCapability !== false ? [capability] : [],
    files: tracer === 'none' ? [] : [{ dir: '/', archive: await probeArchive(tracer) }],
  }));
  try {
    onEvent({ stage: 'start', detail: container.name });
    await container.start();
    const hostPorts = new Map<number, number>();
    let httpPorts = new Set<number>();
    let exited: SlimError | undefined;
    try {
      for (const port of ports) hostPorts.set(port, await container.hostPort(`${port}/tcp`));
      httpPorts = await waitReady(container, hostPorts, opts.readyTimeoutMs);
      exited = await exitedEarly(container, tracer);
    } catch (err) {
      exited = (await exitedEarly(container, tracer)) ?? (err as SlimError);
    }
    // When tuning, an app that cannot even start still leaves a trace of what it looked for.
    const keepGoing = opts.tolerateExit && tracer !== 'none' && !(exited instanceof ProbeRefusedError);
    if (exited && !keepGoing) throw exited;
    if (!exited) {
      const silent = ports.filter((p) => !httpPorts.has(p));
      onEvent({ stage: 'ready', detail: silent.length ? `port ${silent.join(', ')} does not answer HTTP: no default probe goes there` : undefined });
    }
    const results = exited ? [] : await driveProbes(container, image, ref, hostPorts, httpPorts, opts, onEvent);

    onEvent({ stage: 'stopping' });
    await container.kill(image.config.StopSignal || 'SIGTERM');
    // A traced app gets time to flush (the probe forwards the signal); an untraced one is often
    // PID 1 without a handler, deaf to SIGTERM, and nothing of its shutdown is compared.
    const grace = opts.stopTimeoutSeconds ?? (tracer === 'none' ? 2 : 10);
    if (!(await container.waitExit(grace * 1000))) {
      await container.kill('SIGKILL');
      await container.waitExit(10_000);
    }
    const logs = await container.logs(40);
    const state = await container.state();
    let trace: Trace | undefined;
    if (tracer !== 'none') {
      onEvent({ stage: 'collecting' });
      trace = await collect(container, tracer, image.config.WorkingDir || '/');
      if (trace.overflow) throw new SlimError('the fanotify queue overflowed: the trace is incomplete', { hint: 'run again, or use --probe strace' });
    }
    return { trace, results, logs, exitCode: state.exitCode };
  } finally {
    await container.remove();
    cleanup.delete(container);
  }
}
