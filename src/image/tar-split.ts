// A layer's tar as the engine's tar-split record keeps it: one JSON line per
// piece of the tar, the header bytes in place (base64) and file contents as
// sizes. The engine writes these lines with Go's encoding/json, always in one
// shape; they are read here as bytes, base64 decoded natively, which takes a
// sixth of the time of JSON.parse per line in a process that has just started
// (django's base layer: 10 MB of lines). A line of any other shape goes through
// JSON.parse.
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { SlimError } from '../errors.js';
import { loopTurns } from '../turns.js';
import type { RandomAccess } from './tar.js';

const gunzipped = promisify(gunzip);

const LINE_START = Buffer.from('{"type":');
const PAYLOAD = Buffer.from(',"payload":"');
const SIZE = Buffer.from(',"size":');
const [DIGIT_0, DIGIT_9, COMMA, QUOTE, BACKSLASH, BRACE] = [0x30, 0x39, 0x2c, 0x22, 0x5c, 0x7d];

const startsWith = (text: Buffer, at: number, prefix: Buffer): boolean => text.compare(prefix, 0, prefix.length, at, at + prefix.length) === 0;

/** The decimal number at text[at], or -1 when there is none. */
function decimalAt(text: Buffer, at: number): number {
  let value = -1;
  for (let i = at; text[i]! >= DIGIT_0 && text[i]! <= DIGIT_9; i++) value = (value < 0 ? 0 : value * 10) + text[i]! - DIGIT_0;
  return value;
}

/**
 * A layer's tar as tar-split records it: the header bytes in place, file
 * contents left out (read as zeros, they are never looked at).
 */
export async function tarSplitHeaders(gzipped: Buffer, where: string): Promise<RandomAccess> {
  // Unzipped in the thread pool: 30 ms of django's base layer the main thread does not spend.
  const text = await gunzipped(gzipped, { chunkSize: 1 << 20 });
  // Every header byte, in one buffer: base64 is 4 chars for 3 bytes.
  const bytes = Buffer.allocUnsafe(Math.ceil(text.length / 4) * 3);
  const starts: number[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  let used = 0;
  let size = 0;
  const addSegment = (length: number) => {
    starts.push(size);
    offsets.push(used);
    lengths.push(length);
    used += length;
    size += length;
  };
  /** A line of a shape the byte reading does not know, through JSON.parse. */
  const parsed = (from: number, to: number) => {
    let record: { type?: number; size?: number; payload?: string | null };
    try {
      record = JSON.parse(text.toString('utf8', from, to));
    } catch {
      throw new SlimError(`${where}: the engine's tar-split record is not valid JSON`);
    }
    if (record.type === 1) size += record.size ?? 0;
    else if (record.type === 2 && record.payload) addSegment(Buffer.from(record.payload, 'base64').copy(bytes, used));
  };
  /** One line: in Go's shape, read in place; in any other, through JSON.parse. */
  const line = (pos: number, end: number) => {
    const fields = pos + LINE_START.length + 1;
    const type = text[fields - 1];
    const shaped = end > fields + 1 && startsWith(text, pos, LINE_START) && text[fields] === COMMA && text[end - 1] === BRACE;
    if (shaped && type === DIGIT_0 + 2 && startsWith(text, fields, PAYLOAD)) {
      const from = fields + PAYLOAD.length;
      const to = text.indexOf(QUOTE, from);
      // Go writes base64 as is; an escape in it (\/ is valid JSON) is another writer's.
      if (to !== -1 && to < end && !text.subarray(from, to).includes(BACKSLASH)) return addSegment(bytes.write(text.toString('latin1', from, to), used, 'base64'));
    } else if (shaped && type === DIGIT_0 + 1) {
      // Inside a JSON string a quote is escaped, so `,"size":` is the key wherever it appears.
      const key = text.subarray(pos, end).indexOf(SIZE);
      const value = key === -1 ? 0 : decimalAt(text, pos + key + SIZE.length);
      if (value >= 0) return void (size += value);
    }
    parsed(pos, end);
  };
  const turn = loopTurns();
  for (let pos = 0; pos < text.length;) {
    if (turn.due()) await turn();
    const newline = text.indexOf(0x0a, pos);
    const end = newline === -1 ? text.length : newline;
    if (end > pos) line(pos, end);
    pos = end + 1;
  }
  return {
    stat: async () => ({ size }),
    async read(buffer, offset, length, position) {
      const end = Math.min(position + length, size);
      buffer.fill(0, offset, offset + Math.max(0, end - position));
      // First segment that ends after `position` (segments are sorted and disjoint).
      let lo = 0;
      for (let hi = starts.length; lo < hi;) {
        const mid = (lo + hi) >> 1;
        if (starts[mid]! + lengths[mid]! <= position) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < starts.length && starts[i]! < end; i++) {
        const start = starts[i]!;
        const from = Math.max(start, position);
        bytes.copy(buffer, offset + from - position, offsets[i]! + from - start, offsets[i]! + Math.min(end, start + lengths[i]!) - start);
      }
      return { bytesRead: Math.max(0, end - position) };
    },
  };
}
