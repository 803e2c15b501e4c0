// A byte-exact tar codec for image layers. tar-stream decodes PAX values as
// UTF-8, which corrupts binary xattrs (security.capability) and names that are
// not UTF-8; layers go through this codec instead. Paths and link targets are
// "byte strings": one JS char per byte (latin1), so nothing is ever re-encoded.
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { SlimError } from '../errors.js';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** The xattrs of the many entries that have none: one map for all of them (no entry's map is ever changed). */
export const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

export interface TarHeader {
  /** Byte string, as stored (may start with "./" or "/"). */
  name: string;
  type: EntryType;
  /** Permission bits including setuid, setgid and sticky (12 bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (fractions dropped: layers are written reproducibly). */
  mtime: number;
  /** Symlink or hard-link target, byte string. */
  linkname: string;
  devmajor: number;
  devminor: number;
  uname: string;
  gname: string;
  xattrs: ReadonlyMap<string, Buffer>;
}

const BLOCK = 512;
const TYPE_BY_FLAG: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink',
  '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
const FLAG_BY_TYPE: Record<EntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

export const paddingFor = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

function field(buf: Buffer, start: number, len: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('latin1', start, end === -1 || end > start + len ? start + len : end);
}

function numeric(buf: Buffer, start: number, len: number): number {
  if (buf[start]! & 0x80) {
    // GNU base-256: big-endian two's complement, used for sizes over 8 GiB and large ids.
    let value = buf[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) value = value * 256 + buf[i]!;
    return value;
  }
  const text = field(buf, start, len).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOf(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum;
}

/** Parses PAX records ("LEN key=value\n") keeping values as raw bytes. */
export function parsePax(data: Buffer, where: string): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length && data[pos] !== 0) {
    const space = data.indexOf(0x20, pos);
    const len = space === -1 ? NaN : parseInt(data.toString('latin1', pos, space), 10);
    if (!Number.isFinite(len) || len <= 0 || pos + len > data.length) {
      throw new SlimError(`${where}: malformed PAX record at byte ${pos}`);
    }
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new SlimError(`${where}: PAX record without '=' at byte ${pos}`);
    records.set(record.toString('latin1', 0, eq), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return records;
}

function encodePaxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/** Reads blocks from a file at arbitrary offsets through one buffer, so that
 * walking headers costs few syscalls and skipping file data costs none. */
class PositionalReader {
  private buf = Buffer.alloc(1 << 20);
  private bufStart = 0;
  private bufLen = 0;
  constructor(private readonly file: RandomAccess, readonly size: number) {}

  async read(offset: number, length: number): Promise<Buffer> {
    if (offset >= this.bufStart && offset + length <= this.bufStart + this.bufLen) {
      return this.buf.subarray(offset - this.bufStart, offset - this.bufStart + length);
    }
    if (length > this.buf.length) this.buf = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(this.buf, 0, this.buf.length, offset);
    this.bufStart = offset;
    this.bufLen = bytesRead;
    return this.buf.subarray(0, Math.min(length, bytesRead));
  }
}

/** What reading tar headers needs of a file: an open file, or a layer's headers held in memory. */
export interface RandomAccess {
  stat(): Promise<{ size: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

export interface TarRecord {
  header: TarHeader;
  /** Where the entry's data starts in the file. */
  dataOffset: number;
}

/** Walks the headers of an uncompressed tar file. `where` names the file in errors. */
export async function* readTarHeaders(file: RandomAccess, where: string): AsyncGenerator<TarRecord> {
  const { size } = await file.stat();
  const reader = new PositionalReader(file, size);
  let offset = 0;
  let pax = new Map<string, Buffer>();
  const globalPax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  const readData = async (at: number, length: number): Promise<Buffer> => {
    const data = Buffer.from(await reader.read(at, length));
    if (data.length < length) throw new SlimError(`${where}: truncated: entry data ends past the end of the archive`);
    return data;
  };
  for (;;) {
    const block = await reader.read(offset, BLOCK);
    if (block.length === 0) return; // some writers omit the two zero blocks
    if (block.length < BLOCK) throw new SlimError(`${where}: truncated: partial header at byte ${offset}`);
    if (block.every((b) => b === 0)) return;
    if (numeric(block, 148, 8) !== checksumOf(block)) {
      throw new SlimError(`${where}: bad header checksum at byte ${offset}: not a tar file, or a corrupted one`);
    }
    const flag = String.fromCharCode(block[156]!);
    const size = numeric(block, 124, 12);
    const dataOffset = offset + BLOCK;
    offset = dataOffset + size + paddingFor(size);
    if (flag === 'x' || flag === 'g') {
      const records = parsePax(await readData(dataOffset, size), `${where}: PAX header`);
      for (const [k, v] of records) (flag === 'x' ? pax : globalPax).set(k, v);
      continue;
    }
    if (flag === 'L' || flag === 'K') {
      const value = (await readData(dataOffset, size)).toString('latin1').replace(/\0+$/, '');
      if (flag === 'L') longName = value;
      else longLink = value;
      continue;
    }
    const type = TYPE_BY_FLAG[flag];
    if (!type) throw new SlimError(`${where}: unsupported tar entry type '${flag}' at byte ${dataOffset - BLOCK}`);
    const records = new Map([...globalPax, ...pax]);
    const str = (key: string): string | undefined => records.get(key)?.toString('latin1');
    const num = (key: string): number | undefined => {
      const v = str(key);
      return v === undefined ? undefined : Math.floor(Number(v));
    };
    const prefix = field(block, 345, 155);
    const ustarName = field(block, 0, 100);
    const found = new Map<string, Buffer>();
    for (const [k, v] of records) {
      if (k.startsWith('SCHILY.xattr.')) found.set(k.slice('SCHILY.xattr.'.length), v);
      else if (k.startsWith('LIBARCHIVE.xattr.')) found.set(k.slice('LIBARCHIVE.xattr.'.length), Buffer.from(v.toString('latin1'), 'base64'));
    }
    const xattrs = found.size > 0 ? found : NO_XATTRS;
    const header: TarHeader = {
      name: str('path') ?? longName ?? (prefix ? `${prefix}/${ustarName}` : ustarName),
      type,
      mode: numeric(block, 100, 8) & 0o7777,
      uid: num('uid') ?? numeric(block, 108, 8),
      gid: num('gid') ?? numeric(block, 116, 8),
      size: type === 'file' ? num('size') ?? size : 0,
      mtime: num('mtime') ?? numeric(block, 136, 12),
      linkname: str('linkpath') ?? longLink ?? field(block, 157, 100),
      devmajor: numeric(block, 329, 8),
      devminor: numeric(block, 337, 8),
      uname: str('uname') ?? field(block, 265, 32),
      gname: str('gname') ?? field(block, 297, 32),
      xattrs,
    };
    if (type === 'file' && header.size !== size) offset = dataOffset + header.size + paddingFor(header.size);
    if (offset > reader.size) throw new SlimError(`${where}: truncated: '${header.name}' ends past the end of the archive`);
    pax = new Map();
    longName = longLink = undefined;
    yield { header, dataOffset };
  }
}

const USTAR_MAX_OCTAL = (digits: number): number => 8 ** digits - 1;

function writeOctal(block: Buffer, value: number, start: number, len: number): void {
  block.write(value.toString(8).padStart(len - 1, '0') + '\0', start, len, 'latin1');
}

const isAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** Headers encoded once: a layer's size is summed from them before the writer writes them. */
const encoded = new WeakMap<TarHeader, Buffer>();

/** Encodes one entry's header blocks: a PAX header when a value does not fit
 * ustar (long or non-ASCII names, big numbers, xattrs), then the ustar header. */
export function encodeHeader(h: TarHeader): Buffer {
  let found = encoded.get(h);
  if (!found) encoded.set(h, (found = encodeBlocks(h)));
  return found;
}

function encodeBlocks(h: TarHeader): Buffer {
  const pax: Buffer[] = [];
  const needsPax = (value: string, max: number): boolean => value.length > max || !isAscii(value);
  let name = h.name;
  let prefix = '';
  if (needsPax(name, 100)) {
    const cut = name.lastIndexOf('/', 155);
    if (isAscii(name) && cut > 0 && name.length - cut - 1 <= 100 && cut <= 155) {
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    } else {
      pax.push(encodePaxRecord('path', Buffer.from(h.name, 'latin1')));
      name = name.slice(0, 100);
    }
  }
  if (needsPax(h.linkname, 100)) pax.push(encodePaxRecord('linkpath', Buffer.from(h.linkname, 'latin1')));
  const numbers: Array<[string, number, number]> = [['uid', h.uid, 7], ['gid', h.gid, 7], ['size', h.size, 11], ['mtime', h.mtime, 11]];
  for (const [key, value, digits] of numbers) {
    if (value > USTAR_MAX_OCTAL(digits) || value < 0) pax.push(encodePaxRecord(key, Buffer.from(String(value))));
  }
  for (const key of [...h.xattrs.keys()].sort()) pax.push(encodePaxRecord(`SCHILY.xattr.${key}`, h.xattrs.get(key)!));

  const blocks: Buffer[] = [];
  if (pax.length > 0) {
    const data = Buffer.concat(pax);
    blocks.push(ustarBlock({ ...h, name: 'PaxHeader', type: 'file', size: data.length, linkname: '', xattrs: NO_XATTRS }, 'PaxHeaders/' + name.slice(0, 80), '', 'x'));
    blocks.push(data, Buffer.alloc(paddingFor(data.length)));
  }
  blocks.push(ustarBlock(h, name, prefix, FLAG_BY_TYPE[h.type]));
  return Buffer.concat(blocks);
}

function ustarBlock(h: TarHeader, name: string, prefix: string, flag: string): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(name.slice(0, 100), 0, 100, 'latin1');
  writeOctal(block, h.mode & 0o7777, 100, 8);
  writeOctal(block, Math.min(h.uid, USTAR_MAX_OCTAL(7)), 108, 8);
  writeOctal(block, Math.min(h.gid, USTAR_MAX_OCTAL(7)), 116, 8);
  writeOctal(block, h.size > USTAR_MAX_OCTAL(11) ? 0 : h.size, 124, 12);
  writeOctal(block, Math.min(Math.max(h.mtime, 0), USTAR_MAX_OCTAL(11)), 136, 12);
  block.write(flag, 156, 1, 'latin1');
  block.write(isAscii(h.linkname) ? h.linkname.slice(0, 100) : '', 157, 100, 'latin1');
  block.write('ustar\x0000', 257, 8, 'latin1');
  block.write(isAscii(h.uname) ? h.uname.slice(0, 32) : '', 265, 32, 'latin1');
  block.write(isAscii(h.gname) ? h.gname.slice(0, 32) : '', 297, 32, 'latin1');
  writeOctal(block, h.devmajor, 329, 8);
  writeOctal(block, h.devminor, 337, 8);
  block.write(prefix, 345, 155, 'latin1');
  block.write(checksumOf(block).toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return block;
}

/** Where a TarWriter's bytes go; resolves once the sink can take more. */
export type Sink = (data: Buffer) => Promise<void>;

/** Small pieces (headers, padding, small files) go to the sink together, in writes of about this size. */
const COALESCE_BYTES = 256 << 10;

/** Writes tar entries to a sink, hashing everything written (a layer's diff_id). */
export class TarWriter {
  private position = 0;
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  constructor(private readonly sink: Sink) {}

  private async write(data: Buffer): Promise<void> {
    if (data.length === 0) return;
    this.position += data.length;
    this.pending.push(data);
    this.pendingBytes += data.length;
    if (this.pendingBytes >= COALESCE_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.hash.update(data);
    await this.sink(data);
  }

  /** Writes one entry; `content` yields exactly `header.size` bytes for files. */
  async add(header: TarHeader, content?: AsyncIterable<Buffer>): Promise<void> {
    await this.write(encodeHeader(header));
    let written = 0;
    if (content) {
      for await (const chunk of content) {
        written += chunk.length;
        await this.write(chunk);
      }
    }
    if (written !== header.size) {
      throw new SlimError(`writing '${header.name}': expected ${header.size} bytes of content, got ${written}`);
    }
    await this.write(Buffer.alloc(paddingFor(header.size)));
  }

  /** Writes the end-of-archive blocks; returns the size and sha256 digest. */
  async finish(): Promise<{ size: number; digest: string }> {
    await this.write(Buffer.alloc(END_OF_ARCHIVE));
    await this.flush();
    return { size: this.position, digest: `sha256:${this.hash.digest('hex')}` };
  }
}

const END_OF_ARCHIVE = BLOCK * 2;

/** The bytes a tar of these headers takes, known before any is written. */
export const tarSize = (headers: TarHeader[]): number =>
  headers.reduce((sum, h) => sum + encodeHeader(h).length + h.size + paddingFor(h.size), END_OF_ARCHIVE);

/** A sink appending to a file. */
export function fileSink(file: FileHandle): Sink {
  let position = 0;
  return async (data) => {
    await file.write(data, 0, data.length, position);
    position += data.length;
  };
}

/** Streams `length` bytes of a file from `offset`. */
export async function* readRange(file: FileHandle, offset: number, length: number): AsyncGenerator<Buffer> {
  const chunk = Buffer.alloc(Math.min(length, 1 << 20));
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(chunk, 0, Math.min(chunk.length, length - done), offset + done);
    if (bytesRead === 0) throw new SlimError(`file ends ${length - done} bytes early while reading content`);
    done += bytesRead;
    yield Buffer.from(chunk.subarray(0, bytesRead));
  }
}
