// The suite runs with its own TMPDIR and SLIM_CACHE_DIR (inherited by the CLI
// processes it starts), so that anything a test or slim itself leaves in the temp
// dir is seen and fails the run, and the machine is left as it was found.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  // Several projects share one process: the first creates the directory, the last removes it.
  if (process.env.SLIM_TEST_TMPDIR) return () => {};
  const dir = mkdtempSync(join(tmpdir(), 'slim-suite-'));
  // slim's own cache (layers' headers) too: the suite starts without one and leaves none.
  const cache = mkdtempSync(join(tmpdir(), 'slim-suite-cache-'));
  const [outer, outerCache] = [process.env.TMPDIR, process.env.SLIM_CACHE_DIR];
  process.env.TMPDIR = process.env.SLIM_TEST_TMPDIR = dir;
  process.env.SLIM_CACHE_DIR = cache;
  return () => {
    const left = readdirSync(dir);
    rmSync(dir, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
    if (outer === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outer;
    if (outerCache === undefined) delete process.env.SLIM_CACHE_DIR;
    else process.env.SLIM_CACHE_DIR = outerCache;
    delete process.env.SLIM_TEST_TMPDIR;
    if (left.length) {
      // vitest reports a throwing teardown but keeps exit code 0: set it ourselves.
      console.error(`\nFAIL the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in the temp dir: ${left.join(', ')}`);
      process.exitCode = 1;
    }
  };
}
