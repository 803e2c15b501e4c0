// Just enough ELF to follow what the dynamic loader follows: PT_INTERP,
// DT_NEEDED, DT_RPATH and DT_RUNPATH. Computed from the bytes, never by running ldd.
// Only the parts the loader reads are fetched (header, program headers, the
// dynamic segment, its strings): a 100 MB library costs a few kilobytes.
import { HEAD_BYTES } from '../image/head-cache.js';
import type { ContentSource } from '../image/content.js';
import type { FileEntry, FileTree } from '../image/tree.js';

export interface ElfInfo {
  class: 32 | 64;
  machine: number;
  interpreter?: string;
  needed: string[];
  rpath: string[];
  runpath: string[];
}

/** A parsed ELF file: what the loader follows, and what elf-symbols.ts needs to read on. */
export interface ElfFile {
  info: ElfInfo;
  header: ElfHeader;
  bytes: ElfBytes;
  /** PT_LOAD segments, to map the dynamic section's virtual addresses to file offsets. */
  loads: Array<{ offset: number; vaddr: number; filesz: number }>;
  /** Dynamic tags, first value of each; empty without PT_DYNAMIC. */
  tags: Map<number, number>;
}

export const isElf = (head: Buffer): boolean => head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;

/** The first bytes read of a file that may be an ELF: header, program headers and PT_INTERP of usual layouts. */
export const ELF_HEAD = HEAD_BYTES;
const ELF_HEADER = 64;
/** Bytes fetched around a string whose end is not known yet. */
const STRING_WINDOW = 4096;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

/** Where the fields slim reads sit, per ELF class: in the file header, a program header, a section header. */
const LAYOUTS = {
  64: {
    header: { size: 64, phoff: 0x20, shoff: 0x28, phentsize: 0x36, phnum: 0x38, shentsize: 0x3a, shnum: 0x3c, shstrndx: 0x3e },
    program: { type: 0, offset: 8, vaddr: 16, filesz: 32 },
    section: { name: 0, type: 4, flags: 8, offset: 0x18, size: 0x20, link: 0x28, info: 0x2c, align: 0x30, entsize: 0x38 },
  },
  32: {
    header: { size: 52, phoff: 0x1c, shoff: 0x20, phentsize: 0x2a, phnum: 0x2c, shentsize: 0x2e, shnum: 0x30, shstrndx: 0x32 },
    program: { type: 0, offset: 4, vaddr: 8, filesz: 16 },
    section: { name: 0, type: 4, flags: 8, offset: 0x10, size: 0x14, link: 0x18, info: 0x1c, align: 0x20, entsize: 0x24 },
  },
} as const;

export type ElfLayout = (typeof LAYOUTS)[64 | 32];

/** The field offsets of one ELF class (for writers; readers use the functions below). */
export const elfLayout = (is64: boolean): ElfLayout => LAYOUTS[is64 ? 64 : 32];

/** The file header's fields the parsers and the stripper use. */
export interface ElfHeader {
  is64: boolean;
  little: boolean;
  machine: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  type: number;
  offset: number;
  vaddr: number;
  filesz: number;
}

export interface SectionHeader {
  /** Offset of the name in the section-name string table. */
  name: number;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
}

/**
 * Ranges of a file fetched on request; reads of bytes not loaded throw
 * RangeError, which the parsers treat as malformed input.
 */
export class ElfBytes {
  private readonly chunks: Array<{ at: number; data: Buffer }> = [];
  little = true;
  is64 = true;

  constructor(readonly size: number, private readonly fetch?: (offset: number, length: number) => Promise<Buffer>, first?: Buffer) {
    if (first) this.chunks.push({ at: 0, data: first });
  }

  static of(data: Buffer): ElfBytes {
    return new ElfBytes(data.length, undefined, data);
  }

  /** Makes [offset, offset + length) readable (clipped to the file) with at most one read. */
  async load(offset: number, length: number): Promise<void> {
    const end = Math.min(this.size, offset + length);
    if (offset < 0 || offset >= end || this.chunkAt(offset, end - offset) || !this.fetch) return;
    this.chunks.push({ at: offset, data: await this.fetch(offset, end - offset) });
  }

  private chunkAt(offset: number, length: number): { at: number; data: Buffer } | undefined {
    return this.chunks.find((c) => offset >= c.at && offset + length <= c.at + c.data.length);
  }

  private view(offset: number, length: number): [Buffer, number] {
    const chunk = this.chunkAt(offset, length);
    if (!chunk) throw new RangeError(`ELF bytes ${offset}+${length} are not loaded`);
    return [chunk.data, offset - chunk.at];
  }

  u8(o: number): number {
    const [d, i] = this.view(o, 1);
    return d[i]!;
  }

  u16(o: number): number {
    const [d, i] = this.view(o, 2);
    return this.little ? d.readUInt16LE(i) : d.readUInt16BE(i);
  }

  u32(o: number): number {
    const [d, i] = this.view(o, 4);
    return this.little ? d.readUInt32LE(i) : d.readUInt32BE(i);
  }

  /** An address or offset: 8 bytes in ELF64, 4 in ELF32. */
  word(o: number): number {
    if (!this.is64) return this.u32(o);
    const [d, i] = this.view(o, 8);
    return Number(this.little ? d.readBigUInt64LE(i) : d.readBigUInt64BE(i));
  }

  /** The NUL-terminated string at `o`, as far as the loaded bytes go. */
  cstr(o: number): string {
    const [d, i] = this.view(o, 1);
    const end = d.indexOf(0, i);
    return d.toString('latin1', i, end === -1 ? d.length : end);
  }
}

/**
 * The file header (its bytes loaded), which sets the class and byte order
 * `bytes` reads everything else with; undefined when it is no ELF.
 */
export function elfHeader(bytes: ElfBytes): ElfHeader | undefined {
  if (bytes.size < LAYOUTS[32].header.size || ![0x7f, 0x45, 0x4c, 0x46].every((b, i) => bytes.u8(i) === b)) return undefined;
  bytes.is64 = bytes.u8(4) === 2;
  bytes.little = bytes.u8(5) === 1;
  const f = elfLayout(bytes.is64).header;
  return {
    is64: bytes.is64,
    little: bytes.little,
    machine: bytes.u16(0x12),
    phoff: bytes.word(f.phoff),
    phentsize: bytes.u16(f.phentsize),
    phnum: bytes.u16(f.phnum),
    shoff: bytes.word(f.shoff),
    shentsize: bytes.u16(f.shentsize),
    shnum: bytes.u16(f.shnum),
    shstrndx: bytes.u16(f.shstrndx),
  };
}

/** Program header `i` (its bytes loaded). */
export function programHeader(bytes: ElfBytes, header: ElfHeader, i: number): ProgramHeader {
  const o = header.phoff + i * header.phentsize;
  const f = elfLayout(header.is64).program;
  return { type: bytes.u32(o + f.type), offset: bytes.word(o + f.offset), vaddr: bytes.word(o + f.vaddr), filesz: bytes.word(o + f.filesz) };
}

/** Section header `i` (its bytes loaded). */
export function sectionHeader(bytes: ElfBytes, header: ElfHeader, i: number): SectionHeader {
  const o = header.shoff + i * header.shentsize;
  const f = elfLayout(header.is64).section;
  return {
    name: bytes.u32(o + f.name),
    type: bytes.u32(o + f.type),
    flags: bytes.word(o + f.flags),
    offset: bytes.word(o + f.offset),
    size: bytes.word(o + f.size),
    link: bytes.u32(o + f.link),
    info: bytes.u32(o + f.info),
    align: bytes.word(o + f.align),
    entsize: bytes.word(o + f.entsize),
  };
}

/** Parses an ELF file's loader-relevant parts, loading them as it goes; undefined for malformed input. */
export async function readElf(bytes: ElfBytes): Promise<ElfFile | undefined> {
  try {
    await bytes.load(0, ELF_HEADER);
    const header = elfHeader(bytes);
    if (!header) return undefined;
    const { is64, phoff, phentsize, phnum, machine } = header;
    if (phnum > 0) await bytes.load(phoff, phnum * phentsize);
    const segments = Array.from({ length: phnum }, (_, i) => programHeader(bytes, header, i));
    const loads = segments.filter((s) => s.type === PT_LOAD);
    const file: ElfFile = { info: { class: is64 ? 64 : 32, machine, needed: [], rpath: [], runpath: [] }, header, bytes, loads, tags: new Map() };
    const interp = segments.find((s) => s.type === PT_INTERP);
    if (interp) {
      await bytes.load(interp.offset, Math.max(interp.filesz, 1));
      file.info.interpreter = bytes.cstr(interp.offset);
    }
    const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
    if (!dynamic) return file;
    await bytes.load(dynamic.offset, dynamic.filesz);
    const entrySize = is64 ? 16 : 8;
    const named: Array<[number, number]> = [];
    for (let o = dynamic.offset; o + entrySize <= Math.min(dynamic.offset + dynamic.filesz, bytes.size); o += entrySize) {
      const tag = bytes.word(o);
      if (tag === DT_NULL) break;
      const value = bytes.word(o + entrySize / 2);
      if (!file.tags.has(tag)) file.tags.set(tag, value);
      if (tag === DT_NEEDED || tag === DT_RPATH || tag === DT_RUNPATH) named.push([tag, value]);
    }
    const strtab = fileOffset(file, file.tags.get(DT_STRTAB));
    if (strtab === undefined || !named.length) return file;
    // The names sit together in the string table: one read for all of them.
    const first = Math.min(...named.map(([, v]) => v));
    const last = Math.max(...named.map(([, v]) => v));
    await bytes.load(strtab + first, Math.min(last - first + STRING_WINDOW, (file.tags.get(DT_STRSZ) ?? Infinity) - first));
    for (const [tag, value] of named) {
      const text = bytes.cstr(strtab + value);
      if (tag === DT_NEEDED) file.info.needed.push(text);
      else if (tag === DT_RPATH) file.info.rpath.push(...text.split(':').filter(Boolean));
      else file.info.runpath.push(...text.split(':').filter(Boolean));
    }
    return file;
  } catch {
    return undefined;
  }
}

/** A dynamic tag's virtual address as a file offset, through the PT_LOAD segment holding it. */
export function fileOffset(file: ElfFile, vaddr: number | undefined): number | undefined {
  if (vaddr === undefined) return undefined;
  const seg = file.loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
  return seg ? vaddr - seg.vaddr + seg.offset : undefined;
}

/** Parses an ELF file held in memory. */
export async function parseElf(data: Buffer): Promise<ElfInfo | undefined> {
  return (await readElf(ElfBytes.of(data)))?.info;
}

/** Parses per image and file: the keeper and the rules share one parse, and each range is read once. */
const parsed = new WeakMap<ContentSource, Map<number, Promise<ElfFile | undefined>>>();

/** The ELF file an entry holds (undefined when it is none); `head`, the file's first bytes when the caller read them, saves a read. */
export function elfFile(content: ContentSource, entry: FileEntry, head?: Buffer): Promise<ElfFile | undefined> {
  let files = parsed.get(content);
  if (!files) parsed.set(content, (files = new Map()));
  let found = files.get(entry.inode);
  if (!found) {
    found = (async () => {
      // Most files asked about are not ELF: the header alone says so.
      const first = head && head.length >= Math.min(ELF_HEADER, entry.size) ? head : await content.read(entry, ELF_HEADER);
      return isElf(first) ? readElf(new ElfBytes(entry.size, (offset, length) => content.read(entry, length, offset), first)) : undefined;
    })();
    files.set(entry.inode, found);
  }
  return found;
}

/**
 * The ELF files among `paths` (regular files, not followed through symlinks), parsed together: their
 * reads share round trips. A file whose head is in memory and is not ELF costs no wait at all (a
 * rule asks about every kept path: django's 10,000 took 0.26 s a promise each).
 */
export async function elfFiles(tree: FileTree, content: ContentSource, paths: Iterable<string>): Promise<Map<string, ElfFile>> {
  const candidates: Array<[string, FileEntry]> = [];
  for (const path of paths) {
    const entry = tree.get(path);
    if (entry?.type !== 'file') continue;
    const head = content.headNow?.(entry, ELF_HEADER);
    if (head === undefined || isElf(head)) candidates.push([path, entry]);
  }
  const parsed = await Promise.all(candidates.map(async ([path, entry]) => [path, await elfFile(content, entry)] as const));
  return new Map(parsed.filter((p): p is readonly [string, ElfFile] => p[1] !== undefined));
}

/** Expands $ORIGIN, ${ORIGIN} and $LIB in an rpath entry. */
export function expandOrigin(dir: string, origin: string, is64: boolean): string {
  return dir.replace(/\$\{?ORIGIN\}?/g, origin).replace(/\$\{?LIB\}?/g, is64 ? 'lib64' : 'lib');
}
