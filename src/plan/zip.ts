// Just enough ZIP to read named entries of a jar: the central directory, and
// stored or deflated data. Malformed or ZIP64 archives read as empty.
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** An entry larger than this is not read: jar manifests and class files are small. */
const MAX_ENTRY = 64 << 20;

export function zipEntries(zip: Buffer): ZipEntry[] {
  // The end record is in the last 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let o = zip.length - 22; o >= Math.max(0, zip.length - 22 - 0xffff); o--) {
    if (zip.readUInt32LE(o) === EOCD) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) return [];
  const count = zip.readUInt16LE(eocd + 10);
  let o = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count && o + 46 <= zip.length && zip.readUInt32LE(o) === CENTRAL; i++) {
    const nameLength = zip.readUInt16LE(o + 28);
    entries.push({
      method: zip.readUInt16LE(o + 10),
      compressedSize: zip.readUInt32LE(o + 20),
      size: zip.readUInt32LE(o + 24),
      name: zip.toString('utf8', o + 46, Math.min(o + 46 + nameLength, zip.length)),
      localOffset: zip.readUInt32LE(o + 42),
    });
    o += 46 + nameLength + zip.readUInt16LE(o + 30) + zip.readUInt16LE(o + 32);
  }
  return entries;
}

/** An entry's bytes, or undefined when it cannot be read (unknown method, out of bounds, corrupt data). */
export function zipRead(zip: Buffer, entry: ZipEntry): Buffer | undefined {
  const o = entry.localOffset;
  if (o + 30 > zip.length || zip.readUInt32LE(o) !== LOCAL || entry.size > MAX_ENTRY) return undefined;
  const start = o + 30 + zip.readUInt16LE(o + 26) + zip.readUInt16LE(o + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  if (data.length !== entry.compressedSize) return undefined;
  try {
    if (entry.method === 0) return data;
    if (entry.method === 8) return inflateRawSync(data, { maxOutputLength: MAX_ENTRY });
  } catch {
    return undefined;
  }
  return undefined;
}

/** The main section attributes of META-INF/MANIFEST.MF (72-byte lines continued by a leading space). */
export function jarManifest(zip: Buffer): Map<string, string> {
  const entry = zipEntries(zip).find((e) => e.name === 'META-INF/MANIFEST.MF');
  const text = (entry && zipRead(zip, entry)?.toString('utf8')) ?? '';
  const attributes = new Map<string, string>();
  const main = text.replace(/\r\n?/g, '\n').split('\n\n')[0]!.replace(/\n /g, '');
  for (const line of main.split('\n')) {
    const colon = line.indexOf(': ');
    if (colon > 0) attributes.set(line.slice(0, colon), line.slice(colon + 2).trim());
  }
  return attributes;
}
