// Reads an image through the engine's own store instead of `docker save`:
// every file's metadata, and bytes only for the files the plan and the slim
// layer ask for.
//
// A helper container of the image runs the static slim-fs binary, never the
// app: no network, root, and read-only mounts of the image's layer
// directories (overlay2 GraphDriver data), of each layer's tar-split record
// (the engine keeps the exact tar headers of every layer so that it can
// export it byte for byte) and of the image config. Metadata comes from the
// tar-split headers, so the tree is exactly the one `docker save` gives:
// names, modes, owners, mtimes, hard links, devices, whiteouts and the xattrs
// the engine exports. Walking the container's root instead would not be: it
// has bind mounts (/etc/hosts, /etc/resolv.conf, /proc, ...), an init layer
// that adds files (/.dockerenv, /dev/console, /etc/mtab) and rewrites the
// mtimes of /, /etc and /dev, and a layer directory holds parent directories
// its tar never named. File bytes are read from the layer directories, which
// hold exactly what each layer's tar carried.
//
// When slim runs as root on the engine's own host, it reads the same files
// itself (HostFiles), with no helper container: the helper's answers come
// through the engine's exec stream, which competes with the engine's import of
// the slim layer for the same CPUs (django's slim layer: produced in 0.24 s
// instead of 0.44 s, stored in 1.24-1.34 s instead of 1.34-1.45 s; the plan's
// warm-up 0.23 s instead of 0.32-0.50 s). The image config's digest in the
// store proves the files are the engine's.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Container, Engine, ImageSummary } from '../engine.js';
import { SlimError } from '../errors.js';
import { probeBinDir, type CopyEntry } from '../built.js';
import type { ImageConfig } from './archive.js';
import type { ImageSource } from './content.js';
import { readTarHeaders, type TarRecord } from './tar.js';
import { tarSplitHeaders } from './tar-split.js';
import { cachedLayerHeaders, layerCacheDir } from './layer-cache.js';
import { FileTree, type FileEntry } from './tree.js';
import { showPath } from '../paths.js';
import { loopTurns } from '../turns.js';

const HELPER = '/.slim-fs';
const LAYERS = '/.slim-layers';
const CONFIG = '/.slim-config';
const TAR_SPLIT = '/.slim-tar-split';
/** Why the layer directories cannot be read, or undefined when they can. */
export function layerDirsUnavailable(summary: ImageSummary, rootDir: string): string | undefined {
  if (!summary.layerDirs) return 'the storage driver is not overlay2';
  if (!rootDir) return 'the engine does not report its data directory';
  if (summary.layerDirs.length !== summary.diffIds.length) return 'the layer directories do not match the image layers';
  return undefined;
}

function helperFiles(): CopyEntry[] {
  const binary = join(probeBinDir(), 'slim-fs');
  if (!existsSync(binary)) throw new SlimError('the slim-fs helper is not built', { hint: 'run npm run build (needs gcc and libc6-dev)' });
  return [{ path: HELPER.slice(1), mode: 0o755, data: readFileSync(binary) }];
}

/** Chain IDs name layers in the engine's layer store: each one hashes the one below with the layer's diff ID. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const below = out[out.length - 1];
    out.push(below ? `sha256:${createHash('sha256').update(`${below} ${diffId}`).digest('hex')}` : diffId);
  }
  return out;
}

/** A byte reader over a stream, for the helper's framed answers. */
class FrameReader {
  /** Received and not yet taken, in order; copied once, when a take spans chunks. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly source: AsyncIterator<Buffer>;

  constructor(stream: Readable, private readonly where: string) {
    this.source = stream[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n) {
      const next = await this.source.next();
      if (next.done) throw new SlimError(`${this.where}: the helper stopped answering`);
      this.chunks.push(next.value);
      this.buffered += next.value.length;
    }
  }

  async take(n: number): Promise<Buffer> {
    await this.fill(n);
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let at = 0; at < n;) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, part);
      at += part;
      if (part === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }

  /** `n` bytes as they arrive. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    for (let left = n; left > 0;) {
      await this.fill(1);
      const chunk = await this.take(Math.min(left, this.chunks[0]!.length));
      left -= chunk.length;
      yield chunk;
    }
  }
}

/** Reads files by path: the helper's `slim-fs serve` session, or this host's file system. */
interface LayerFiles {
  /** At most `limit` bytes of one file from `offset`; `name` is what errors call it. */
  read(path: string, limit: number, name?: string, offset?: number): Promise<Buffer>;
  /** Whole files, in order, each consumed before the next is taken. */
  stream(files: Array<{ path: string; size: number; name: string }>): AsyncGenerator<AsyncIterable<Buffer>>;
  close(): void;
}

/** Files up to this size are read whole at once; bigger ones are streamed. */
const HOST_WHOLE_BYTES = 1 << 20;
/**
 * Milliseconds of reading between two turns of the event loop. Counted in time, not bytes: a
 * head from a cold disk costs a hundred times one from the page cache, and the app's readiness
 * polls and probes wait for the turn.
 */
const HOST_TURN_MS = 5;

/**
 * The layer directories read on this host. Paths come as the tree has them, one char per byte
 * (latin1): file names in images need not be UTF-8. Reads are synchronous: through the thread
 * pool each would wait for four round trips (open, stat, read, close), which made the plan's
 * reads slower than the helper's batched ones; the event loop gets a turn every HOST_TURN_MS.
 */
class HostFiles implements LayerFiles {
  private turnedAt = performance.now();
  private pause: Promise<void> | undefined;

  constructor(private readonly where: string) {}

  /**
   * Waits, once enough was read, for the event loop's turn (the app is traced meanwhile, on the
   * same thread). Reads issued together wait for the same turn, and check again after it.
   */
  private async turn(): Promise<void> {
    while (this.pause || performance.now() - this.turnedAt >= HOST_TURN_MS) {
      this.pause ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.pause = undefined;
        this.turnedAt = performance.now();
      });
      await this.pause;
    }
  }

  private readNow(path: string, limit: number, name: string, offset: number): Buffer {
    let fd: number | undefined;
    try {
      fd = openSync(Buffer.from(path, 'latin1'), 'r');
      const length = Math.max(0, Math.min(limit, fstatSync(fd).size - offset));
      const data = Buffer.allocUnsafe(length);
      let at = 0;
      while (at < length) {
        const read = readSync(fd, data, at, length - at, offset + at);
        if (read === 0) break;
        at += read;
      }
      return at === length ? data : data.subarray(0, at);
    } catch (err) {
      throw new SlimError(`${this.where}: cannot read '${name}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  async read(path: string, limit: number, name = path, offset = 0): Promise<Buffer> {
    await this.turn();
    return this.readNow(path, limit, name, offset);
  }

  async *stream(files: Array<{ path: string; size: number; name: string }>): AsyncGenerator<AsyncIterable<Buffer>> {
    const where = this.where;
    for (const file of files) {
      const checked = (length: number) => {
        if (length !== file.size) throw new SlimError(`${where}: '${file.name}' has ${length} bytes, the inventory said ${file.size}`);
      };
      if (file.size <= HOST_WHOLE_BYTES) {
        await this.turn();
        const data = this.readNow(file.path, Infinity, file.name, 0);
        checked(data.length);
        yield (async function* () {
          yield data;
        })();
        continue;
      }
      const host = this;
      yield (async function* () {
        let length = 0;
        for (let chunk; (chunk = host.readNow(file.path, HOST_WHOLE_BYTES, file.name, length)).length > 0;) {
          length += chunk.length;
          yield chunk;
          await host.turn();
        }
        checked(length);
      })();
    }
  }

  close(): void {}
}

/** One `slim-fs serve` session: requests go out in order, answers come back in the same order. */
class FileServer implements LayerFiles {
  private queue: Promise<unknown> = Promise.resolve();
  /** Set when a stream was left before its end: the answers still coming no longer match requests. */
  private abandoned = false;
  /** Requests not written yet. */
  private readonly outgoing: Buffer[] = [];

  private constructor(private readonly stdin: NodeJS.WritableStream, private readonly reader: FrameReader, private readonly where: string) {}

  static async start(container: Container, where: string): Promise<FileServer> {
    const session = await container.execStream([HELPER, 'serve'], { stdin: true });
    return new FileServer(session.stdin!, new FrameReader(session.stdout, where), where);
  }

  private request(path: string, limit: number, offset = 0): void {
    const name = Buffer.from(path, 'latin1');
    const head = Buffer.alloc(21);
    head[0] = 0x52; // R
    head.writeBigUInt64LE(BigInt(offset), 1);
    head.writeBigUInt64LE(BigInt(Number.isFinite(limit) ? limit : 0), 9);
    head.writeUInt32LE(name.length, 17);
    // Requests made in one turn go out in one write: thousands of small writes cost a system call each.
    if (this.outgoing.push(head, name) === 2) process.nextTick(() => this.flush());
  }

  private flush(): void {
    if (this.outgoing.length > 0) this.stdin.write(Buffer.concat(this.outgoing.splice(0)));
  }

  private async answerLength(name: string): Promise<number> {
    const head = await this.reader.take(13);
    if (head[0] !== 0x46 /* F */) throw new SlimError(`${this.where}: the helper's answer for '${name}' is malformed`);
    const errno = head.readInt32LE(1);
    if (errno !== 0) {
      await this.reader.take(1);
      throw new SlimError(`${this.where}: the helper cannot read '${name}' (errno ${errno})`);
    }
    return Number(head.readBigUInt64LE(5));
  }

  /** The byte after a file's data: 1 when the helper read all of it. */
  private async checkComplete(name: string): Promise<void> {
    if ((await this.reader.take(1))[0] !== 1) throw new SlimError(`${this.where}: '${name}' changed while it was read`);
  }

  /**
   * Reads one file (at most `limit` bytes from `offset`), after every request before it; `name` is what errors call it.
   * The request goes out at once, so reads issued together cost one round trip: answers are taken in call order.
   */
  read(path: string, limit: number, name = path, offset = 0): Promise<Buffer> {
    if (!this.abandoned) this.request(path, limit, offset);
    const answer = this.queue.then(async () => {
      if (this.abandoned) throw new SlimError(`${this.where}: the helper session was abandoned mid-stream`);
      const data = await this.reader.take(await this.answerLength(name));
      await this.checkComplete(name);
      return data;
    });
    this.queue = answer.catch(() => {});
    return answer;
  }

  /** Streams whole files; all requests go out at once, so the helper never waits for a round trip. */
  async *stream(files: Array<{ path: string; size: number; name: string }>): AsyncGenerator<AsyncIterable<Buffer>> {
    let release!: () => void;
    const previous = this.queue;
    this.queue = new Promise<void>((resolve) => (release = resolve));
    // Requested in the same turn as the queue is claimed: requests and answers stay in one order.
    for (const file of files) this.request(file.path, Infinity);
    let answered = 0;
    try {
      await previous;
      for (const file of files) {
        const length = await this.answerLength(file.name);
        if (length !== file.size) throw new SlimError(`${this.where}: '${file.name}' has ${length} bytes, the inventory said ${file.size}`);
        const server = this;
        yield (async function* () {
          yield* server.reader.stream(length);
          await server.checkComplete(file.name);
          answered++;
        })();
      }
    } finally {
      if (answered < files.length) this.abandoned = true;
      release();
    }
  }

  close(): void {
    this.flush();
    this.stdin.end();
  }
}

/** Where the engine keeps an image's files: its layer directories, each layer's tar-split record, its config. */
interface StorePaths {
  layers: string[];
  tarSplits: string[];
  config: string;
}

/** The store's paths on the engine's host. */
function storePaths(summary: ImageSummary, rootDir: string): StorePaths {
  const hex = (digest: string) => digest.replace(/^sha256:/, '');
  const store = `${rootDir}/image/overlay2`;
  return {
    layers: summary.layerDirs!,
    tarSplits: chainIds(summary.diffIds).map((chain) => `${store}/layerdb/sha256/${hex(chain)}/tar-split.json.gz`),
    config: `${store}/imagedb/content/sha256/${hex(summary.id)}`,
  };
}

/** The same files where the helper container has them mounted. */
const helperPaths = (host: StorePaths): StorePaths => ({
  layers: host.layers.map((_, i) => `${LAYERS}/${i}`),
  tarSplits: host.tarSplits.map((_, i) => `${TAR_SPLIT}/${i}`),
  config: CONFIG,
});

const digestOf = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * The image's config as this process reads it from the engine's store itself, or undefined when
 * it cannot: only as root, on the engine's host, which the config's digest proves.
 */
async function configOnHost(host: StorePaths, id: string): Promise<Buffer | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  return readFile(host.config).then((config) => (digestOf(config) === id ? config : undefined), () => undefined);
}

/**
 * Opens an image by its layer directories. The caller checked
 * `layerDirsUnavailable` first; errors here mean the helper could not run.
 * `onHost: false` reads through the helper even where this host's files could be read.
 */
export async function layerSource(engine: Engine, summary: ImageSummary, ref: string, rootDir: string, opts: { onHost?: boolean } = {}): Promise<ImageSource> {
  const where = `reading image ${ref} through its layer directories`;
  const host = storePaths(summary, rootDir);
  const hostConfig = opts.onHost === false ? undefined : await configOnHost(host, summary.id);
  const onHost = hostConfig !== undefined;
  // Read on this host, the store's paths go the way of the tree's: a char per byte.
  const asBytes = (path: string) => Buffer.from(path, 'utf8').toString('latin1');
  const paths = onHost ? { layers: host.layers.map(asBytes), tarSplits: host.tarSplits.map(asBytes), config: asBytes(host.config) } : helperPaths(host);
  const container = onHost ? undefined : await engine.createContainer({
    image: summary.id,
    role: 'inventory',
    entrypoint: [HELPER, 'wait'],
    cmd: [],
    user: '0:0',
    network: 'none',
    healthcheck: false,
    files: helperFiles(),
    binds: [
      ...host.layers.map((dir, i) => `${dir}:${paths.layers[i]}:ro`),
      ...host.tarSplits.map((file, i) => `${file}:${paths.tarSplits[i]}:ro`),
      `${host.config}:${paths.config}:ro`,
    ],
  });
  try {
    await container?.start();
    const files: LayerFiles = container ? await FileServer.start(container, where) : new HostFiles(where);
    const configJson = hostConfig ?? (await files.read(paths.config, Infinity));
    if (digestOf(configJson) !== summary.id) throw new SlimError(`${where}: the engine's stored config does not match image ID ${summary.id}`);
    const config = JSON.parse(configJson.toString('utf8')) as ImageConfig;
    const tree = new FileTree();
    const cache = layerCacheDir();
    for (const [layer, tarSplit] of paths.tarSplits.entries()) {
      const layerWhere = `${where}: layer ${layer}`;
      const records = await cachedLayerHeaders(cache, summary.diffIds[layer]!, async () => {
        const headers: TarRecord[] = [];
        const turn = loopTurns();
        for await (const record of readTarHeaders(await tarSplitHeaders(await files.read(tarSplit, Infinity), layerWhere), layerWhere)) {
          headers.push(record);
          if (turn.due()) await turn();
        }
        return headers;
      });
      await tree.applyLayerInTurns(layer, records, layerWhere);
    }
    const pathOf = (entry: FileEntry) => `${paths.layers[entry.layer]}${entry.path}`;
    return {
      ref,
      id: summary.id,
      config,
      tree,
      via: onHost ? 'layer directories' : 'layer directories, through a helper container',
      read: (entry, limit = Infinity, offset = 0) => {
        const length = entry.type === 'file' ? Math.min(limit, entry.size - offset) : 0;
        return length > 0 ? files.read(pathOf(entry), length, showPath(entry.path), offset) : Promise.resolve(Buffer.alloc(0));
      },
      files: (entries) => files.stream(entries.map((e) => ({ path: pathOf(e), size: e.size, name: showPath(e.path) }))),
      async [Symbol.asyncDispose]() {
        files.close();
        await container?.remove();
      },
    };
  } catch (err) {
    await container?.remove();
    throw err;
  }
}
