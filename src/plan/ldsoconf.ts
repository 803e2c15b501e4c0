// The dynamic loader's configuration: the directories /etc/ld.so.conf names,
// with the files its `include` lines pull in. The keeper searches them for
// DT_NEEDED libraries; the plugin rule tells loaded-by-path objects from them.
import type { ContentSource } from '../image/content.js';
import type { FileTree } from '../image/tree.js';
import { joinPath, parentOf } from '../paths.js';
import { globToRegExp } from './glob.js';
import { fileAt } from './rules/context.js';

/** Where ld.so looks after what its configuration names. */
export const DEFAULT_LIBRARY_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];

/** Deeper includes than this are a loop through symlinks, not configuration. */
const MAX_INCLUDE_DEPTH = 8;

/** Library directories from /etc/ld.so.conf and the files it includes, in order. */
export async function readLdSoConf(tree: FileTree, content: ContentSource): Promise<string[]> {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const read = async (file: string, depth: number): Promise<void> => {
    const entry = fileAt(tree, file);
    if (!entry || seen.has(entry.path) || depth > MAX_INCLUDE_DEPTH) return;
    seen.add(entry.path);
    for (const raw of (await content.read(entry)).toString('latin1').split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const include = /^include\s+(.+)$/.exec(line);
      if (!include) {
        if (line.startsWith('/')) dirs.push(line);
        continue;
      }
      const pattern = include[1]!.startsWith('/') ? include[1]! : joinPath(parentOf(file), include[1]!);
      const re = globToRegExp(pattern);
      for (const name of tree.children(parentOf(pattern))) if (re.test(joinPath(parentOf(pattern), name))) await read(joinPath(parentOf(pattern), name), depth + 1);
    }
  };
  await read('/etc/ld.so.conf', 0);
  return dirs;
}
