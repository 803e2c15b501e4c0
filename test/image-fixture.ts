// Trees made from real images: fixtures/rules/NAME/listing.txt is a `find -printf '%y %m %U %p\t%l'`
// of the parts of a sample image a test needs, files/ the real bytes of the few files the rules read
// (fixtures/rules/fetch.sh regenerates both), and the sample's own sources come from sample-apps/NAME
// where its Dockerfile COPYs them. Listed files without bytes are empty.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContentSource } from '../src/image/content.js';
import { FileTree } from '../src/image/tree.js';
import type { RuleContext } from '../src/plan/rules/context.js';
import { header, type Spec } from './fixtures.js';

const ROOT = new URL('../fixtures/rules', import.meta.url).pathname;

/** A tree and its content from generated specs, the way test/plan.test.ts builds them. */
export function treeOf(specs: Spec[]): { tree: FileTree; content: ContentSource } {
  const tree = new FileTree();
  tree.applyLayer(0, specs.map((s) => ({ header: header(s), dataOffset: 0 })), 'fixture');
  const data = new Map(specs.filter((s) => s.data !== undefined).map((s) => ['/' + s.name.replace(/\/$/, ''), Buffer.from(s.data!)]));
  return { tree, content: { read: async (entry, limit = Infinity, offset = 0) => (data.get(entry.path) ?? Buffer.alloc(0)).subarray(offset, offset + limit) } };
}

/** The specs of a sample's fixture, plus `extra` entries on top. */
export function sampleSpecs(name: string, extra: Spec[] = []): Spec[] {
  const dir = join(ROOT, name);
  // The sample's own sources are read from sample-apps, not copied into the fixture.
  const sources = sampleSources(name);
  const specs: Spec[] = [];
  for (const line of readFileSync(join(dir, 'listing.txt'), 'latin1').split('\n')) {
    const match = /^([fdl]) (\d+) (\d+) (\/[^\t]*)\t(.*)$/.exec(line);
    if (!match || match[4] === '/') continue;
    const [, type, mode, uid, path, link] = match as unknown as [string, string, string, string, string, string];
    const file = join(dir, 'files', path);
    specs.push({
      name: path.slice(1) + (type === 'd' ? '/' : ''),
      type: type === 'd' ? 'dir' : type === 'l' ? 'symlink' : 'file',
      mode: parseInt(mode, 8),
      uid: Number(uid),
      linkname: type === 'l' ? link : '',
      ...(type === 'f' ? { data: sources.get(path) ?? (existsSync(file) ? readFileSync(file) : Buffer.alloc(0)) } : {}),
    });
  }
  // Copied files the listing does not cover (package databases) are added as they are.
  const listed = new Set(specs.map((s) => s.name));
  for (const relative of filesUnder(join(dir, 'files'))) {
    if (!listed.has(relative)) specs.push({ name: relative, data: readFileSync(join(dir, 'files', relative)) });
  }
  for (const [path, data] of sources) if (!listed.has(path.slice(1))) specs.push({ name: path.slice(1), data });
  return [...specs, ...extra];
}

const filesUnder = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length + 1)) : [];

/** The sample's own sources by image path, where its Dockerfile COPYs them (COPY SRC DEST, not from a build stage). */
function sampleSources(name: string): Map<string, Buffer> {
  const sample = join(ROOT, '..', '..', 'sample-apps', name);
  const sources = new Map<string, Buffer>();
  for (const [, src, dest] of readFileSync(join(sample, 'Dockerfile'), 'utf8').matchAll(/^COPY\s+(?!--)(\S+)\s+(\/\S*)\s*$/gm) as Iterable<[string, string, string]>) {
    if (!statSync(join(sample, src)).isDirectory()) sources.set(dest, readFileSync(join(sample, src)));
    else for (const file of filesUnder(join(sample, src))) sources.set(join(dest, file), readFileSync(join(sample, src, file)));
  }
  return sources;
}

/** A rule context over a sample's fixture, with the given paths kept. */
export function sampleContext(name: string, opts: { kept?: string[]; env?: Record<string, string>; user?: string; volumes?: string[]; extra?: Spec[] } = {}): RuleContext {
  const { tree, content } = treeOf(sampleSpecs(name, opts.extra));
  return {
    tree,
    content,
    env: new Map(Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env })),
    user: opts.user ?? '',
    volumes: opts.volumes,
    kept: new Set(opts.kept ?? []),
  };
}
