// Just enough ELF to follow what the dynamic loader follows: PT_INTERP,
// DT_NEEDED, DT_RPATH and DT_RUNPATH. Computed from the bytes, never by running ldd.
export interface ElfInfo {
  class: 32 | 64;
  machine: number;
  interpreter?: string;
  needed: string[];
  rpath: string[];
  runpath: string[];
}

export const isElf = (head: Buffer): boolean => head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

/** Parses an ELF file's loader-relevant parts; returns undefined for malformed input. */
export function parseElf(data: Buffer): ElfInfo | undefined {
  if (!isElf(data) || data.length < 52) return undefined;
  const is64 = data[4] === 2;
  const little = data[5] === 1;
  const u16 = (o: number) => (little ? data.readUInt16LE(o) : data.readUInt16BE(o));
  const u32 = (o: number) => (little ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const addr = (o: number) => (is64 ? Number(little ? data.readBigUInt64LE(o) : data.readBigUInt64BE(o)) : u32(o));
  try {
    const phoff = addr(is64 ? 0x20 : 0x1c);
    const phentsize = u16(is64 ? 0x36 : 0x2a);
    const phnum = u16(is64 ? 0x38 : 0x2c);
    const machine = u16(0x12);
    const segments: Array<{ type: number; offset: number; vaddr: number; filesz: number }> = [];
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      segments.push(is64
        ? { type: u32(o), offset: addr(o + 8), vaddr: addr(o + 16), filesz: addr(o + 32) }
        : { type: u32(o), offset: u32(o + 4), vaddr: u32(o + 8), filesz: u32(o + 16) });
    }
    const cstr = (o: number) => {
      const end = data.indexOf(0, o);
      return data.toString('latin1', o, end === -1 ? data.length : end);
    };
    const info: ElfInfo = { class: is64 ? 64 : 32, machine, needed: [], rpath: [], runpath: [] };
    const interp = segments.find((s) => s.type === PT_INTERP);
    if (interp) info.interpreter = cstr(interp.offset);
    const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
    if (!dynamic) return info;
    const entrySize = is64 ? 16 : 8;
    const tags: Array<[number, number]> = [];
    for (let o = dynamic.offset; o + entrySize <= dynamic.offset + dynamic.filesz; o += entrySize) {
      const tag = addr(o);
      if (tag === DT_NULL) break;
      tags.push([tag, addr(o + entrySize / 2)]);
    }
    // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segments.
    const strtabAddr = tags.find(([t]) => t === DT_STRTAB)?.[1];
    const load = segments.find((s) => s.type === PT_LOAD && strtabAddr !== undefined && strtabAddr >= s.vaddr && strtabAddr < s.vaddr + s.filesz);
    if (strtabAddr === undefined || !load) return info;
    const strtab = strtabAddr - load.vaddr + load.offset;
    for (const [tag, value] of tags) {
      if (tag === DT_NEEDED) info.needed.push(cstr(strtab + value));
      else if (tag === DT_RPATH) info.rpath.push(...cstr(strtab + value).split(':').filter(Boolean));
      else if (tag === DT_RUNPATH) info.runpath.push(...cstr(strtab + value).split(':').filter(Boolean));
    }
    return info;
  } catch {
    return undefined;
  }
}

/** Expands $ORIGIN, ${ORIGIN} and $LIB in an rpath entry. */
export function expandOrigin(dir: string, origin: string, is64: boolean): string {
  return dir.replace(/\$\{?ORIGIN\}?/g, origin).replace(/\$\{?LIB\}?/g, is64 ? 'lib64' : 'lib');
}
