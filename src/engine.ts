// The one place that talks to the container engine. Everything else gets an
// Engine passed in, so tests and the CLI choose which engine, and nothing
// holds a global connection.
import { createRequire, Module } from 'node:module';
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import { SlimError } from './errors.js';
import { copyArchive, type CopyEntry } from './built.js';
import { listenTableOf, type ListenTable } from './listen-table.js';
import type { ContainerConfig } from './image-config.js';

const require = createRequire(import.meta.url);

/**
 * Loading dockerode loads BuildKit's gRPC session client and docker-modem's SSH
 * client, two thirds of its 0.2 s start-up, which slim needs only for a DOCKER_HOST
 * of ssh://. Each of those modules exports one function: it is put in require's
 * cache as a stand-in that loads the module on its first call. A layout where
 * a module is not found is loaded as it always was.
 */
function loadOnFirstCall(request: string): void {
  let path: string;
  try {
    path = require.resolve(request);
  } catch {
    return;
  }
  let loaded: ((...args: unknown[]) => unknown) | undefined;
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = function (this: unknown, ...args: unknown[]) {
    if (!loaded) {
      delete require.cache[path];
      loaded = require(path) as (...args: unknown[]) => unknown;
    }
    return loaded.apply(this, args);
  };
  require.cache[path] = standIn;
}
loadOnFirstCall('dockerode/lib/session.js');
loadOnFirstCall('docker-modem/lib/ssh.js');
const Docker = require('dockerode') as typeof Dockerode;

export const TOOL_LABEL = 'io.slim.tool';
export const SESSION_LABEL = 'io.slim.session';
export const PID_LABEL = 'io.slim.pid';
export const HOST_LABEL = 'io.slim.host';
export const VERSION_LABEL = 'io.slim.version';

/** Docker's default read-only paths of a container, which an explicit list replaces. */
const DEFAULT_READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface EngineInfo {
  version: string;
  apiVersion: string;
  storageDriver: string;
  os: string;
  rootless: boolean;
  /** The engine's data directory on its host (DockerRootDir). */
  rootDir: string;
}

export interface ImageSummary {
  id: string;
  repoTags: string[];
  size: number;
  config: ContainerConfig;
  /** The image's layer directories on the engine's host, oldest first, when the storage driver is overlay2. */
  layerDirs?: string[];
  /** The diff IDs of the image's layers, oldest first. */
  diffIds: string[];
}

export interface ContainerSpec {
  image: string;
  /** Role in the name, e.g. "trace" or "verify". */
  role: string;
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  env?: string[];
  /** Container ports ("8000/tcp") to publish on 127.0.0.1 at a random host port. */
  publish?: string[];
  capAdd?: string[];
  workingDir?: string;
  /** Host paths (of the engine's host) or volumes mounted in: "SRC:DST[:ro]". */
  binds?: string[];
  /** Network mode (bridge, host, none, or a network's name); none starts it without any network. */
  network?: string;
  /** Extra files put into the container before it starts, by their paths under /. */
  files?: CopyEntry[];
  /** Paths mounted read-only over themselves (the engine's own read-only /proc paths stay). */
  readOnlyPaths?: string[];
  /** false: the image's HEALTHCHECK does not run (it is the app's code). */
  healthcheck?: false;
}

export interface ExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** A command running in a container: its stdin (when asked for), its stdout as it comes, and how it ended. */
export interface ExecStream {
  stdin?: Writable;
  stdout: Readable;
  done: Promise<{ exitCode: number; stderr: Buffer }>;
}

export interface ContainerState {
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
  error: string;
}

export interface Container extends AsyncDisposable {
  readonly id: string;
  readonly name: string;
  start(): Promise<void>;
  /** Host port that a container port ("8000/tcp") is published on. */
  hostPort(containerPort: string): Promise<number>;
  state(): Promise<ContainerState>;
  /**
   * The TCP ports listening inside the running container on an address its published
   * ports reach; undefined when slim cannot see its network namespace (see listen-table.ts).
   */
  listeningPorts(): Promise<Set<number> | undefined>;
  exec(cmd: string[], opts?: { user?: string; env?: string[] }): Promise<ExecResult>;
  execStream(cmd: string[], opts?: { user?: string; env?: string[]; stdin?: boolean }): Promise<ExecStream>;
  kill(signal: string): Promise<void>;
  /** Waits for the container to exit, at most `timeoutMs`; returns whether it did. */
  waitExit(timeoutMs: number): Promise<boolean>;
  logs(tailLines?: number): Promise<string>;
  /** A tar stream of a path in the container (works once it has exited, too). */
  getArchive(path: string): Promise<Readable>;
  /**
   * The container's own writable layer, where the engine's host has it (overlay2's upper
   * directory), or undefined with another storage driver; it holds what the container wrote.
   */
  layerDir(): Promise<string | undefined>;
  remove(): Promise<void>;
}

export interface Engine {
  info(): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageSummary | undefined>;
  saveImage(ref: string): Promise<Readable>;
  /** Loads an image archive and returns the ID of the image it held. */
  loadImage(archive: Readable): Promise<string>;
  /**
   * Makes an image of one layer from a tar stream (docker import), applying it as it
   * arrives; labelled as this tool's, so that slim prune finds it. Returns its ID.
   */
  importLayer(layer: Readable): Promise<string>;
  removeImage(id: string): Promise<void>;
  /** IDs of the images whose config has this label with this value. */
  imagesLabelled(label: string, value: string): Promise<string[]>;
  tagImage(id: string, repo: string, tag: string): Promise<void>;
  /**
   * Names an image while this run needs it and no tag does (an image written ahead
   * of knowing it is wanted), by a name that says whose it is: slim prune removes
   * the names of runs that are gone. removeImage(name) lets it go.
   */
  holdImage(id: string): Promise<string>;
  createContainer(spec: ContainerSpec): Promise<Container>;
  /** Containers this tool created, across sessions. */
  listToolContainers(): Promise<Array<{ id: string; name: string; labels: Record<string, string> }>>;
  /**
   * Images this tool created on the way to others (importLayer) and its holds (holdImage),
   * across sessions: `ref` is what removeImage takes, `labels` say whose they are.
   */
  listToolImages(): Promise<Array<{ ref: string; labels: Record<string, string> }>>;
  removeContainer(id: string): Promise<void>;
  /** The session every container of this engine belongs to. */
  readonly session: string;
  /** Where the engine listens, as given (DOCKER_HOST's forms), or 'default'. */
  readonly host: string;
  /**
   * Whether the engine accepts a new connection. A stopping engine closes its
   * listener first and keeps serving open connections while it stops the
   * containers, so only a new connection tells.
   */
  listening(): Promise<boolean>;
}

/** The error of a build whose engine went away: say so, not what the dying engine did to the app. */
export async function engineLost(engine: Engine, err: unknown): Promise<SlimError | undefined> {
  if (err instanceof SlimError && (err.kind === 'interrupted' || err.kind === 'usage')) return undefined;
  // Already said (the engine was down from the start, or the call that failed found it gone).
  if (err instanceof Error && err.message.includes(UNREACHABLE_TEXT)) return undefined;
  if (await engine.listening()) return undefined;
  const which = engine.host === 'default' ? 'the container engine' : `the container engine at ${engine.host}`;
  const what = (err as Error).message?.split('\n')[0] ?? String(err);
  return new SlimError(`${UNREACHABLE_TEXT} ${which}: it stopped during the build (${what})`, {
    hint: `start it again; then slim prune${engine.host === 'default' ? '' : ` --engine ${engine.host}`} removes what this run left there`,
    cause: err,
  });
}

const UNREACHABLE_TEXT = 'cannot reach';

/** Errors of a connection that is gone or never was: the engine is down, not the request wrong. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

function engineError(action: string, err: unknown, host = 'default'): SlimError {
  const e = err as { statusCode?: number; json?: { message?: string }; message?: string; code?: string };
  const detail = e.json?.message ?? e.message ?? String(err);
  if (e.code && UNREACHABLE.has(e.code)) {
    const which = host === 'default' ? 'the container engine' : `the container engine at ${host}`;
    return new SlimError(`${action}: ${UNREACHABLE_TEXT} ${which} (${e.code})`, {
      hint: host === 'default'
        ? 'start Docker (npm run engine, or scripts/ensure-engine.sh), or point DOCKER_HOST at a running engine; slim doctor checks the setup'
        : `start that engine, or drop --engine ${host}; slim doctor checks the setup`,
      cause: err,
    });
  }
  return new SlimError(`${action}: ${detail.trim()}`, { cause: err });
}


function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

export interface DockerEngineOptions {
  version: string;
  /** Identifies this run in container labels; defaults to a random id. */
  session?: string;
  /** Where the engine listens, in DOCKER_HOST's forms (unix:///path, tcp://HOST:PORT); DOCKER_HOST or the default socket without it. */
  host?: string;
  /** false: files for a new container always go through the engine's archive call, as for a remote engine, never straight into its layer directory. */
  writeLayers?: boolean;
}

/** dockerode's connection options for a DOCKER_HOST-style address. */
export function connectionOptions(host: string): Dockerode.DockerOptions {
  const unix = /^unix:\/\/(\/.*)$/.exec(host);
  if (unix) return { socketPath: unix[1] };
  const tcp = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(host);
  if (tcp) return { host: tcp[2]!.replace(/^\[|\]$/g, ''), port: Number(tcp[3]), protocol: tcp[1] === 'https' ? 'https' : 'http' };
  throw new SlimError(`'${host}' is not an engine address`, { kind: 'usage', hint: 'use unix:///path/to/docker.sock or tcp://HOST:PORT (the forms of DOCKER_HOST)' });
}

/** An Engine over the Docker API at `host`, else honouring DOCKER_HOST. */
export function dockerEngine(opts: DockerEngineOptions): Engine {
  const host = opts.host ?? 'default';
  const docker = opts.host ? new Docker(connectionOptions(opts.host)) : new Docker();
  const session = opts.session ?? Math.random().toString(36).slice(2, 10);
  const call = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw engineError(action, err, host);
    }
  };
  let seq = 0;
  /** What marks a container or image as this run's: slim prune reaps what a dead run left. */
  const toolLabels = (): Record<string, string> => ({
    [TOOL_LABEL]: 'slim',
    [VERSION_LABEL]: opts.version,
    [SESSION_LABEL]: session,
    [PID_LABEL]: String(process.pid),
    [HOST_LABEL]: hostname(),
  });

  const wrap = (raw: Dockerode.Container, name: string): Container => {
    let removed = false;
    let listenTable: Promise<ListenTable | undefined> | undefined;
    let layer: Promise<string | undefined> | undefined;
    const container: Container = {
      id: raw.id,
      name,
      start: () => call(`starting container ${name}`, () => raw.start()),
      async hostPort(port) {
        const info = await call(`inspecting container ${name}`, () => raw.inspect());
        const binding = info.NetworkSettings.Ports?.[port]?.[0];
        if (!binding) throw new SlimError(`container ${name} does not publish ${port}`);
        return Number(binding.HostPort);
      },
      async state() {
        const info = await call(`inspecting container ${name}`, () => raw.inspect());
        return { running: info.State.Running, exitCode: info.State.ExitCode, oomKilled: info.State.OOMKilled, error: info.State.Error };
      },
      async listeningPorts() {
        listenTable ??= call(`inspecting container ${name}`, () => raw.inspect()).then((info) => listenTableOf(info.State.Pid, info.NetworkSettings.SandboxKey));
        return (await listenTable)?.();
      },
      async exec(cmd, execOpts = {}) {
        const running = await container.execStream(cmd, execOpts);
        const [stdout, { exitCode, stderr }] = await Promise.all([readAll(running.stdout), running.done]);
        return { exitCode, stdout, stderr };
      },
      async execStream(cmd, execOpts = {}) {
        const action = `running ${JSON.stringify(cmd).slice(0, 200)} in ${name}`;
        return call(action, async () => {
          const withStdin = execOpts.stdin === true;
          const exec = await raw.exec({ Cmd: cmd, User: execOpts.user, Env: execOpts.env, AttachStdin: withStdin, AttachStdout: true, AttachStderr: true });
          const stream = await exec.start({ hijack: true, stdin: withStdin });
          const stdout = new PassThrough();
          const stderr = new PassThrough();
          demux(stream, stdout, stderr);
          const errText = readAll(stderr);
          const ended = new Promise<void>((resolve, reject) => {
            stream.on('end', () => {
              stdout.end();
              stderr.end();
              resolve();
            });
            stream.on('error', (err: Error) => {
              stdout.destroy(err);
              reject(err);
            });
          });
          stdout.on('close', () => stream.destroy());
          const done = call(action, async () => {
            await ended;
            const inspected = await exec.inspect();
            return { exitCode: inspected.ExitCode ?? -1, stderr: await errText };
          });
          done.catch(() => {}); // the caller awaits it; a reader that stopped early must not crash the process
          return { stdin: withStdin ? stream : undefined, stdout, done };
        });
      },
      kill: (signal) => call(`signalling container ${name}`, () => raw.kill({ signal })).catch((err: SlimError) => {
        if (!/is not running|No such container/i.test(err.message)) throw err;
      }),
      async waitExit(timeoutMs) {
        // The engine answers the moment the container stops: no polling interval added to every stop.
        const timeout = AbortSignal.timeout(timeoutMs);
        try {
          await raw.wait({ condition: 'not-running', abortSignal: timeout });
          return true;
        } catch (err) {
          if (timeout.aborted) return false;
          if (/No such container/i.test((err as Error).message)) return true;
          throw engineError(`waiting for container ${name} to stop`, err, host);
        }
      },
      async logs(tail = 40) {
        const data = await call(`reading logs of ${name}`, () => raw.logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
        return demuxBuffer(data);
      },
      getArchive: (path) => call(`copying ${path} out of ${name}`, () => raw.getArchive({ path })) as Promise<Readable>,
      async layerDir() {
        layer ??= call(`inspecting container ${name}`, () => raw.inspect()).then((info) =>
          info.GraphDriver?.Name === 'overlay2' ? (info.GraphDriver.Data as { UpperDir?: string } | undefined)?.UpperDir : undefined);
        return layer;
      },
      async remove() {
        if (removed) return;
        await call(`removing container ${name}`, () => raw.remove({ force: true, v: true })).catch((err: SlimError) => {
          if (!/No such container|is already in progress/i.test(err.message)) throw err;
        });
        removed = true;
      },
      [Symbol.asyncDispose]: () => container.remove(),
    };
    return container;
  };

  return {
    session,
    host,
    async listening() {
      // docker-modem resolves its default socket lazily: socketPath may be a function.
      const modem = docker.modem as { socketPath?: string | (() => Promise<string>); host?: string; port?: number | string };
      const socketPath = typeof modem.socketPath === 'function' ? await modem.socketPath() : modem.socketPath;
      return new Promise<boolean>((resolve) => {
        const socket = socketPath ? connect(socketPath) : connect(Number(modem.port ?? 2375), modem.host ?? 'localhost');
        const end = (up: boolean) => {
          socket.destroy();
          resolve(up);
        };
        socket.setTimeout(3000, () => end(false));
        socket.once('connect', () => end(true));
        socket.once('error', () => end(false));
      });
    },
    async info() {
      const info = await call('asking the engine for its version', () => docker.info());
      const version = await call('asking the engine for its version', () => docker.version());
      const security: string[] = info.SecurityOptions ?? [];
      return {
        version: version.Version,
        apiVersion: version.ApiVersion,
        storageDriver: info.Driver,
        os: info.OperatingSystem,
        rootless: security.some((s) => s.includes('rootless')),
        rootDir: info.DockerRootDir ?? '',
      };
    },
    async inspectImage(ref) {
      try {
        const info = await docker.getImage(ref).inspect();
        const dirs = info.GraphDriver?.Data as { LowerDir?: string; UpperDir?: string } | undefined;
        const layerDirs = info.GraphDriver?.Name === 'overlay2' && dirs?.UpperDir
          ? [...(dirs.LowerDir ? dirs.LowerDir.split(':').reverse() : []), dirs.UpperDir]
          : undefined;
        return { id: info.Id, repoTags: info.RepoTags ?? [], size: info.Size, config: info.Config as ImageSummary['config'], layerDirs, diffIds: info.RootFS?.Layers ?? [] };
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw engineError(`inspecting image ${ref}`, err, host);
      }
    },
    saveImage: (ref) => call(`saving image ${ref}`, () => docker.getImage(ref).get()) as Promise<Readable>,
    async loadImage(archive) {
      const response = await call('loading the image', () => docker.loadImage(archive, { quiet: true })) as unknown as Readable;
      return imageIdIn(response, 'loading the image', (m) => /Loaded image ID: (sha256:[0-9a-f]{64})/.exec(m.stream ?? '')?.[1]);
    },
    async importLayer(layer) {
      const labels = Object.entries(toolLabels()).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ');
      const response = await call('importing the slim layer', () => docker.importImage(layer, { changes: [`LABEL ${labels}`] })) as unknown as Readable;
      return imageIdIn(response, 'importing the slim layer', (m) => (/^sha256:[0-9a-f]{64}$/.test(m.status ?? '') ? m.status : undefined));
    },
    async imagesLabelled(label, value) {
      const list = await call(`listing images labelled ${label}`, () => docker.listImages({ filters: { label: [`${label}=${value}`] } }));
      return list.map((i) => i.Id);
    },
    removeImage: (id) => call(`removing image ${id}`, () => docker.getImage(id).remove({ noprune: false })).then(() => undefined),
    tagImage: (id, repo, tag) => call(`tagging ${id} as ${repo}:${tag}`, () => docker.getImage(id).tag({ repo, tag })),
    async createContainer(spec) {
      const name = `slim-${spec.role}-${session}-${++seq}`;
      const exposed = Object.fromEntries((spec.publish ?? []).map((p) => [p, {}]));
      const bindings = Object.fromEntries((spec.publish ?? []).map((p) => [p, [{ HostIp: '127.0.0.1', HostPort: '' }]]));
      const raw = await call(`creating a container from ${spec.image}`, () =>
        docker.createContainer({
          name,
          Image: spec.image,
          Entrypoint: spec.entrypoint,
          Cmd: spec.cmd,
          User: spec.user,
          Env: spec.env,
          WorkingDir: spec.workingDir,
          ExposedPorts: exposed,
          Labels: toolLabels(),
          NetworkDisabled: spec.network === 'none' ? true : undefined,
          Healthcheck: spec.healthcheck === false ? { Test: ['NONE'] } : undefined,
          HostConfig: {
            PortBindings: bindings, CapAdd: spec.capAdd, Privileged: false, AutoRemove: false, Binds: spec.binds, NetworkMode: spec.network,
            // Setting ReadonlyPaths replaces the engine's defaults: keep them.
            ReadonlyPaths: spec.readOnlyPaths ? [...DEFAULT_READONLY_PATHS, ...spec.readOnlyPaths] : undefined,
          },
        }),
      );
      const container = wrap(raw, name);
      try {
        const files = spec.files ?? [];
        if (files.length && !(opts.writeLayers !== false && (await writeIntoLayer(container, files)))) {
          const archive = await copyArchive(files);
          await call(`copying files into ${name}`, () => raw.putArchive(archive, { path: '/' }));
        }
      } catch (err) {
        await container.remove();
        throw err;
      }
      return container;
    },
    async listToolContainers() {
      const list = await call('listing containers', () => docker.listContainers({ all: true, filters: { label: [`${TOOL_LABEL}=slim`] } }));
      return list.map((c) => ({ id: c.Id, name: (c.Names[0] ?? '').replace(/^\//, ''), labels: c.Labels }));
    },
    async holdImage(id) {
      const { repo, tag } = holdName(toolLabels(), ++seq);
      await call(`naming ${id} while it is written ahead`, () => docker.getImage(id).tag({ repo, tag }));
      return `${repo}:${tag}`;
    },
    async listToolImages() {
      const [imports, held] = await call('listing images', () => Promise.all([
        docker.listImages({ filters: { label: [`${TOOL_LABEL}=slim`] } }),
        docker.listImages({ filters: { reference: [`${HOLD_REPO}/*`] } }),
      ]));
      const holds = held.flatMap((i) => (i.RepoTags ?? []).flatMap((ref) => {
        const labels = holdLabels(ref);
        return labels ? [{ ref, labels }] : [];
      }));
      return [...imports.map((i) => ({ ref: i.Id, labels: i.Labels ?? {} })), ...holds];
    },
    removeContainer: (id) => call(`removing container ${id}`, () => docker.getContainer(id).remove({ force: true, v: true })).then(() => undefined),
  };
}

/**
 * Writes files straight into a created container's own layer directory when this process
 * can (root on the engine's host): the engine's archive call spends 150-200 ms starting a
 * helper process to unpack a few files. The directory's name is random to this container, so
 * finding it here proves this is the engine's host; the files take its owner, which is the
 * container's root also under a user-namespace remap. Only new trees under /: a directory
 * made here over one of the image's would hide its mode and owner, which the engine's copy
 * keeps. False when it cannot: the caller copies them through the engine.
 */
async function writeIntoLayer(container: Container, files: CopyEntry[]): Promise<boolean> {
  const made = new Set(['']);
  for (const { path, data } of files) {
    const name = path.replace(/\/$/, '');
    if (!made.has(name.slice(0, Math.max(0, name.lastIndexOf('/'))))) return false;
    if (!data) made.add(name);
  }
  const layer = process.getuid?.() === 0 ? await container.layerDir() : undefined;
  const owner = layer ? statIfDirectory(layer) : undefined;
  if (!layer || !owner) return false;
  for (const { path, mode, data } of files) {
    const where = join(layer, path);
    if (data) writeFileSync(where, data, { flag: 'wx' });
    else mkdirSync(where);
    chownSync(where, owner.uid, owner.gid); // before chmod: a chown clears set-id bits
    chmodSync(where, mode);
  }
  return true;
}

function statIfDirectory(path: string): { uid: number; gid: number } | undefined {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? stat : undefined;
  } catch {
    return undefined;
  }
}

/** Where holds are named: slim-pending/<session, hex>:<host>-<pid>-<n>, whose parts the reaper reads back. */
const HOLD_REPO = 'slim-pending';

export function holdName(labels: Record<string, string>, n: number): { repo: string; tag: string } {
  // A tag takes [A-Za-z0-9_.-]; host names are made of those. One that is not cannot be matched, and only prune --all removes it.
  const host = labels[HOST_LABEL]!.replace(/[^\w.-]/g, '_');
  return { repo: `${HOLD_REPO}/${Buffer.from(labels[SESSION_LABEL]!).toString('hex')}`, tag: `${host}-${labels[PID_LABEL]}-${n}` };
}

/** The labels a hold's name stands for; undefined for a name that is not a hold. */
export function holdLabels(ref: string): Record<string, string> | undefined {
  const match = new RegExp(`^${HOLD_REPO}/((?:[0-9a-f]{2})+):([\\w.-]+)-(\\d+)-\\d+$`).exec(ref);
  if (!match) return undefined;
  return { [TOOL_LABEL]: 'slim', [SESSION_LABEL]: Buffer.from(match[1]!, 'hex').toString(), [HOST_LABEL]: match[2]!, [PID_LABEL]: match[3]! };
}

/**
 * The image ID in the engine's answer to a load or an import (JSON messages, one a
 * line), as `idOf` finds it in a message; a message with an error throws.
 */
async function imageIdIn(response: Readable, action: string, idOf: (message: { stream?: string; status?: string }) => string | undefined): Promise<string> {
  const text = (await readAll(response)).toString('utf8');
  let id: string | undefined;
  for (const line of text.split(/\r?\n/).filter(Boolean)) {
    const message = JSON.parse(line) as { stream?: string; status?: string; error?: string };
    if (message.error) throw new SlimError(`${action}: the engine refused it: ${message.error}`);
    id = idOf(message) ?? id;
  }
  if (!id) throw new SlimError(`${action}: the engine did not report an image ID (${text.trim().slice(0, 200)})`);
  return id;
}

/**
 * Splits the engine's multiplexed stream (frames of an 8-byte header: stream type,
 * three zeros, length) into stdout and stderr without copying the payloads, and
 * holds the source back while stdout is full: a file read through an exec stays
 * in the container until its reader wants it.
 */
function demux(source: Readable, stdout: Writable, stderr: Writable): void {
  let header: Buffer = Buffer.alloc(0);
  let type = 0;
  let left = 0;
  let held = false;
  source.on('data', (chunk: Buffer) => {
    for (let at = 0; at < chunk.length;) {
      if (left === 0) {
        const take = Math.min(8 - header.length, chunk.length - at);
        header = header.length === 0 && take === 8 ? chunk.subarray(at, at + 8) : Buffer.concat([header, chunk.subarray(at, at + take)]);
        at += take;
        if (header.length < 8) return;
        type = header[0]!;
        left = header.readUInt32BE(4);
        header = Buffer.alloc(0);
        continue;
      }
      const part = chunk.subarray(at, at + left);
      at += part.length;
      left -= part.length;
      if (type === 2) stderr.write(part);
      else if (!stdout.write(part) && !held) {
        held = true;
        source.pause();
        stdout.once('drain', () => {
          held = false;
          source.resume();
        });
      }
    }
  });
}

/** Splits the engine's multiplexed log format (8-byte frame headers) into text. */
function demuxBuffer(data: Buffer): string {
  if (!Buffer.isBuffer(data)) return String(data);
  const parts: Buffer[] = [];
  let pos = 0;
  while (pos + 8 <= data.length && (data[pos] === 1 || data[pos] === 2) && data[pos + 1] === 0) {
    const len = data.readUInt32BE(pos + 4);
    parts.push(data.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
  }
  return (pos === 0 ? data : Buffer.concat(parts)).toString('utf8');
}
