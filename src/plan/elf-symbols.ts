// The dynamic symbols an ELF file imports (undefined entries of .dynsym): what
// it will call in other libraries, so what it will need later (iconv_open →
// gconv modules). Read through the dynamic segment as the loader does, with
// the section headers as a fallback; malformed input yields an empty list.
import { isElf } from './elf.js';

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const DT_NULL = 0;
const DT_HASH = 4;
const DT_STRTAB = 5;
const DT_SYMTAB = 6;
const DT_STRSZ = 10;
const DT_GNU_HASH = 0x6ffffef5;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
/** More symbols than any real library has: a corrupt count must not make us loop for minutes. */
const MAX_SYMBOLS = 1_000_000;

interface Reader {
  is64: boolean;
  u16(o: number): number;
  u32(o: number): number;
  word(o: number): number;
}

function reader(data: Buffer): Reader {
  const is64 = data[4] === 2;
  const little = data[5] === 1;
  const u32 = (o: number) => (little ? data.readUInt32LE(o) : data.readUInt32BE(o));
  return {
    is64,
    u16: (o) => (little ? data.readUInt16LE(o) : data.readUInt16BE(o)),
    u32,
    word: (o) => (is64 ? Number(little ? data.readBigUInt64LE(o) : data.readBigUInt64BE(o)) : u32(o)),
  };
}

/** Names of the undefined (imported) dynamic symbols, sorted and unique. */
export function importedSymbols(data: Buffer): string[] {
  if (!isElf(data) || data.length < 52) return [];
  try {
    const r = reader(data);
    const table = fromDynamic(data, r) ?? fromSections(data, r);
    if (!table) return [];
    const names = new Set<string>();
    const entrySize = r.is64 ? 24 : 16;
    for (let i = 1; i < table.count; i++) {
      const o = table.symtab + i * entrySize;
      if (o + entrySize > data.length) break;
      const shndx = r.u16(o + (r.is64 ? 6 : 14));
      const name = r.u32(o);
      if (shndx !== SHN_UNDEF || name === 0 || name >= table.strsz) continue;
      const start = table.strtab + name;
      const end = data.indexOf(0, start);
      if (start < data.length) names.add(data.toString('latin1', start, end === -1 ? data.length : end));
    }
    return [...names].sort();
  } catch {
    return [];
  }
}

interface SymbolTable {
  symtab: number;
  strtab: number;
  strsz: number;
  count: number;
}

function fromDynamic(data: Buffer, r: Reader): SymbolTable | undefined {
  const phoff = r.word(r.is64 ? 0x20 : 0x1c);
  const phentsize = r.u16(r.is64 ? 0x36 : 0x2a);
  const phnum = r.u16(r.is64 ? 0x38 : 0x2c);
  const loads: Array<{ offset: number; vaddr: number; filesz: number }> = [];
  let dynamic: { offset: number; filesz: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const type = r.u32(o);
    const seg = r.is64
      ? { offset: r.word(o + 8), vaddr: r.word(o + 16), filesz: r.word(o + 32) }
      : { offset: r.u32(o + 4), vaddr: r.u32(o + 8), filesz: r.u32(o + 16) };
    if (type === PT_LOAD) loads.push(seg);
    else if (type === PT_DYNAMIC) dynamic = seg;
  }
  if (!dynamic) return undefined;
  const tags = new Map<number, number>();
  const entrySize = r.is64 ? 16 : 8;
  for (let o = dynamic.offset; o + entrySize <= Math.min(dynamic.offset + dynamic.filesz, data.length); o += entrySize) {
    const tag = r.word(o);
    if (tag === DT_NULL) break;
    if (!tags.has(tag)) tags.set(tag, r.word(o + entrySize / 2));
  }
  // Dynamic entries hold virtual addresses: map them to file offsets through PT_LOAD.
  const offsetOf = (vaddr: number | undefined) => {
    if (vaddr === undefined) return undefined;
    const seg = loads.find((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz);
    return seg ? vaddr - seg.vaddr + seg.offset : undefined;
  };
  const symtab = offsetOf(tags.get(DT_SYMTAB));
  const strtab = offsetOf(tags.get(DT_STRTAB));
  if (symtab === undefined || strtab === undefined) return undefined;
  const strsz = Math.min(tags.get(DT_STRSZ) ?? data.length - strtab, data.length - strtab);
  const hash = offsetOf(tags.get(DT_HASH));
  const gnuHash = offsetOf(tags.get(DT_GNU_HASH));
  const count = hash !== undefined ? r.u32(hash + 4) : gnuHash !== undefined ? gnuHashCount(r, gnuHash) : undefined;
  if (count === undefined) return undefined;
  return { symtab, strtab, strsz, count: Math.min(count, MAX_SYMBOLS) };
}

/** DT_GNU_HASH has no symbol count: the highest bucket's chain ends at the last symbol. */
function gnuHashCount(r: Reader, at: number): number {
  const nbuckets = r.u32(at);
  const symoffset = r.u32(at + 4);
  const bloomSize = r.u32(at + 8);
  if (nbuckets > MAX_SYMBOLS || bloomSize > MAX_SYMBOLS) return 0;
  const buckets = at + 16 + bloomSize * (r.is64 ? 8 : 4);
  let last = 0;
  for (let i = 0; i < nbuckets; i++) last = Math.max(last, r.u32(buckets + i * 4));
  if (last < symoffset) return symoffset;
  const chains = buckets + nbuckets * 4;
  while (last < MAX_SYMBOLS && (r.u32(chains + (last - symoffset) * 4) & 1) === 0) last++;
  return last + 1;
}

function fromSections(data: Buffer, r: Reader): SymbolTable | undefined {
  const shoff = r.word(r.is64 ? 0x28 : 0x20);
  const shentsize = r.u16(r.is64 ? 0x3a : 0x2e);
  const shnum = r.u16(r.is64 ? 0x3c : 0x30);
  const section = (i: number) => {
    const o = shoff + i * shentsize;
    return r.is64
      ? { type: r.u32(o + 4), offset: r.word(o + 24), size: r.word(o + 32), link: r.u32(o + 40), entsize: r.word(o + 56) }
      : { type: r.u32(o + 4), offset: r.u32(o + 16), size: r.u32(o + 20), link: r.u32(o + 24), entsize: r.u32(o + 36) };
  };
  if (shoff === 0 || shoff >= data.length) return undefined;
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_DYNSYM || s.link >= shnum) continue;
    const strings = section(s.link);
    return { symtab: s.offset, strtab: strings.offset, strsz: strings.size, count: Math.min(Math.floor(s.size / (s.entsize || (r.is64 ? 24 : 16))), MAX_SYMBOLS) };
  }
  return undefined;
}
