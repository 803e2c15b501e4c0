// Adding a language is one entry in the language table: a made-up language
// registered in a copy of the table (never in LANGUAGE_TABLE itself) is picked
// up by the plan, every keep rule and the package index, with no module edited.
import { describe, expect, it } from 'vitest';
import { LANGUAGE_TABLE, type LanguageSupport } from '../src/plan/languages/index.js';
import { planKeep } from '../src/plan/plan.js';
import { packageIndexOf } from '../src/plan/pkgdb/index.js';
import { addOp, emptyTrace } from '../src/trace/trace.js';
import { readTextAt, type KeepRequest, type RuleContext } from '../src/plan/rules/context.js';
import { packageOfKeptCode } from '../src/plan/rules/packages.js';
import { runtimeLoadsByName } from '../src/plan/rules/runtimes.js';
import { staticScans } from '../src/plan/rules/scans.js';
import { commandsCalledBy, programsCalledByScripts } from '../src/plan/rules/shell.js';
import { joinPath, parentOf, resolvePath, showPath } from '../src/paths.js';
import { treeOf } from './image-fixture.js';
import type { FileEntry } from '../src/image/tree.js';

/**
 * Toy, a made-up Lua-like language (not Lua itself: slim already counts *.lua as code
 * of interpreters without an entry, so a Lua entry could not show the code rule reads it).
 */
const toy: LanguageSupport<'toy'> = {
  name: 'toy',
  code: /\.toy$/,
  programCalls: { files: /\.toy$/, calls: /\bos\.execute\(\s*(["'])([^"'\n]+)\1/g },
  // A rockspec-like record: `package = "NAME"`, `version = "V"`, one `file = "PATH"` per installed file, relative to the record.
  records: [{
    files: /\/rocks\/[^/]+\.toyspec$/,
    async read(src, path) {
      const text = (await readTextAt(src, path)) ?? '';
      const name = /^package = "([^"]+)"/m.exec(text)?.[1];
      if (!name) return undefined;
      const files = [...text.matchAll(/^file = "([^"]+)"/gm)].map((m) => resolvePath(parentOf(path), m[1]!));
      return { manager: 'toyrocks', name, version: /^version = "([^"]+)"/m.exec(text)?.[1], files: [path, ...files], depends: [], conffiles: [] };
    },
  }],
  // Its packages are the directories beside the rocks records.
  packageOf(path) {
    const dir = /^(\/usr\/local\/share\/toy\/(?!rocks\/)[^/]+)\//.exec(path)?.[1];
    return dir ? { language: 'toy', dir, extras: [] } : undefined;
  },
  runtime: {
    name: 'toy',
    recognise: /^(.*)\/bin\/toy$/,
    async loads(_ctx, home) {
      return [{ path: joinPath(home, 'lib/toy/natives'), why: 'loads native modules by name from lib/toy/natives/' }];
    },
  },
  scanner: {
    files: /\.toy$/,
    async scan(ctx, path, data) {
      const out: KeepRequest[] = [];
      for (const m of data.toString('latin1').matchAll(/^require "([\w/]+)"/gm)) {
        const target = joinPath(parentOf(path), `${m[1]}.toy`);
        if (ctx.tree.has(target)) out.push({ path: target, reason: `require "${m[1]}" in ${showPath(path)}` });
      }
      return out;
    },
  },
};

const WITH_TOY: readonly LanguageSupport[] = [...LANGUAGE_TABLE, toy];
const MAIN = 'require "helper"\nos.execute("gzip -d data.gz")\n';

/** An image with a Toy runtime, a Toy package with its record, and an app in Toy; the app and one package file were traced. */
function toyImage(extra: Parameters<typeof treeOf>[0] = []): RuleContext {
  const { tree, content } = treeOf([
    ...extra,
    { name: 'usr/local/bin/toy', mode: 0o755, data: 'x' },
    { name: 'usr/local/lib/toy/natives/socket.so', data: 'x' },
    { name: 'usr/local/share/toy/rocks/web-1.0.toyspec', data: 'package = "web"\nversion = "1.0"\nfile = "../web/init.toy"\nfile = "../web/router.toy"\n' },
    { name: 'usr/local/share/toy/web/init.toy', data: 'return {}\n' },
    { name: 'usr/local/share/toy/web/router.toy', data: 'return {}\n' },
    { name: 'usr/local/share/toy/web/templates/page.html', data: '<p>\n' },
    { name: 'usr/bin/gzip', mode: 0o755, data: 'x' },
    { name: 'app/main.toy', data: MAIN },
    { name: 'app/helper.toy', data: 'return {}\n' },
  ]);
  const traced = new Set(['/app/main.toy', '/usr/local/share/toy/web/init.toy']);
  return { tree, content, env: new Map([['PATH', '/usr/bin:/bin']]), user: '', kept: new Set([...traced, '/usr/local/bin/toy']), traced };
}

const reasonFor = (requests: KeepRequest[], path: string) => requests.find((r) => r.path === path)?.reason;

describe('a language added as one table entry', () => {
  // One image for both tables: what the rules cache per image must not carry over from one table to another.
  const image = toyImage();
  const builtIn = image;
  const withToy: RuleContext = { ...image, languageTable: WITH_TOY };

  it('its package records are read into the package index', async () => {
    expect((await packageIndexOf(builtIn)).find('toyrocks', 'web')).toBeUndefined();
    const web = (await packageIndexOf(withToy)).find('toyrocks', 'web')!;
    expect(web.version).toBe('1.0');
    expect((await packageIndexOf(withToy)).ownerOf('/usr/local/share/toy/web/router.toy')).toEqual([web]);
  });

  it('package-of-kept-code: a traced code file keeps its package whole', async () => {
    expect(reasonFor(await packageOfKeptCode(builtIn), '/usr/local/share/toy/web/router.toy')).toBeUndefined();
    expect(reasonFor(await packageOfKeptCode(withToy), '/usr/local/share/toy/web/router.toy')).toBe('package web (toyrocks) owns traced /usr/local/share/toy/web/init.toy');
  });

  it('scripts-call-programs: the programs its code runs are kept', async () => {
    expect(commandsCalledBy('/app/main.toy', MAIN)).toEqual([]);
    expect(commandsCalledBy('/app/main.toy', MAIN, WITH_TOY)).toEqual([{ command: 'gzip', line: 2 }]);
    expect(reasonFor(await programsCalledByScripts(builtIn), '/usr/bin/gzip')).toBeUndefined();
    expect(reasonFor(await programsCalledByScripts(withToy), '/usr/bin/gzip')).toBe('called by /app/main.toy:2');
  });

  it('static-scans: its scanner follows what kept code requires, unless the run turns the language off', async () => {
    expect(await staticScans(builtIn)).toEqual([]);
    expect(await staticScans(withToy)).toEqual([{ path: '/app/helper.toy', reason: 'require "helper" in /app/main.toy' }]);
    expect(await staticScans({ ...withToy, languages: new Set(['python']) })).toEqual([]);
  });

  it('runtime-loads-by-name: a kept runtime brings what it loads by name', async () => {
    expect(await runtimeLoadsByName(builtIn)).toEqual([]);
    expect(await runtimeLoadsByName(withToy)).toEqual([
      { path: '/usr/local/lib/toy/natives', reason: 'toy runtime /usr/local loads native modules by name from lib/toy/natives/' },
    ]);
  });

  it('the plan keeps the package of a traced file whole', async () => {
    const trace = emptyTrace('fanotify');
    for (const path of image.traced!) addOp(trace, path, 'open');
    const page = '/usr/local/share/toy/web/templates/page.html';
    const plan = (languageTable?: readonly LanguageSupport[]) => planKeep(image.tree, trace, {
      entrypoint: [], env: [], workdir: '/', user: '', volumes: [], rules: [], includePacks: [], excludePacks: [],
      languages: new Set(['toy']) as Set<never>, appDirs: false, languageTable,
    }, image.content);
    expect((await plan()).paths.has(page)).toBe(false);
    expect((await plan(WITH_TOY)).paths.get(page)).toEqual(['toy package /usr/local/share/toy/web']);
  });

  it('the plan reads each range of a file once: one package index, of its own table, for its rules and its package database alike', async () => {
    const STATUS = '/var/lib/dpkg/status';
    const image = toyImage([{ name: STATUS.slice(1), data: 'Package: base-files\nStatus: install ok installed\nVersion: 12\n' }]);
    const reads = new Map<string, number>();
    const content = { read: (entry: FileEntry, limit?: number, offset?: number) => {
      const range = `${entry.path} ${offset ?? 0} ${limit ?? 'all'}`;
      reads.set(range, (reads.get(range) ?? 0) + 1);
      return image.content.read(entry, limit, offset);
    } };
    const trace = emptyTrace('fanotify');
    for (const path of image.traced!) addOp(trace, path, 'open');
    await planKeep(image.tree, trace, {
      entrypoint: [], env: [], workdir: '/', user: '', volumes: [], rules: [], includePacks: [], excludePacks: [],
      languages: new Set(['toy']) as Set<never>, appDirs: true, languageTable: WITH_TOY,
    }, content);
    expect([...reads.keys()].filter((range) => range.startsWith(STATUS))).toHaveLength(1);
    expect([...reads].filter(([, n]) => n > 1)).toEqual([]);
    // The rules ran in rounds: the app's code was looked at more than once, and read once.
    expect([...reads.keys()].some((range) => range.startsWith('/app/main.toy'))).toBe(true);
  });

  it('the built-in table is left as it was', () => {
    expect(LANGUAGE_TABLE.map((l) => l.name)).toEqual(['python', 'node', 'ruby', 'php', 'perl', 'java']);
  });
});
