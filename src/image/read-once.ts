// A keep plan runs its rules again while any of them keeps something new, and
// each rule reads what it looks into (scripts, configs, Ruby and PHP sources,
// jar manifests). Through the layer helper every read is a request: without a
// memory of what was read, each round reads the same files again (ruby-gems:
// static scans took 156 ms in the second round, 26 ms from memory). Within one
// plan, each range of a file is read once.
import type { ContentSource } from './content.js';

/** Bytes one plan keeps in memory at most; past them, reads go to the image again. */
export const PLAN_READ_BUDGET = 32 << 20;

/** `source` with a memory of every range read through it, up to `budget` bytes; failed reads are not remembered. */
export function readEachOnce(source: ContentSource, budget = PLAN_READ_BUDGET): ContentSource {
  const reads = new Map<string, Promise<Buffer>>();
  let held = 0;
  return {
    headNow: source.headNow?.bind(source),
    read(entry, limit = Infinity, offset = 0) {
      const length = Math.max(0, Math.min(entry.size, offset + limit) - offset);
      // Hard links share an inode, and so their bytes.
      const key = `${entry.inode} ${offset} ${length}`;
      const found = reads.get(key);
      if (found) return found;
      const reading = source.read(entry, limit, offset);
      if (held + length > budget) return reading;
      held += length;
      reads.set(key, reading);
      reading.catch(() => {
        reads.delete(key);
        held -= length;
      });
      return reading;
    },
  };
}
