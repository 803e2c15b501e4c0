// 15.3: runtimes that load by name. A language runtime loads parts of itself
// later by convention, never through DT_NEEDED or a path the probe touched:
// one table entry per runtime says how to recognise it among the kept files
// and what it loads lazily. Node's node_modules resolution lives in the plan.
import { type FileTree } from '../../image/tree.js';
import { dedupe, readTextAt, type KeepRequest, type RuleContext } from './context.js';
import { baseName, joinPath, parentOf, showPath } from '../../paths.js';

export interface Runtime {
  name: string;
  /** A kept file that means this runtime runs; the match is its install root (JAVA_HOME, prefix). */
  recognise: RegExp;
  /** What the runtime at `home` loads by name; directories are kept whole. */
  loads(ctx: RuleContext, home: string): Promise<Array<{ path: string; why: string }>>;
}

const children = (tree: FileTree, dir: string) => tree.children(dir).map((n) => joinPath(dir, n));
const dirsNamed = (tree: FileTree, root: string, name: RegExp): string[] =>
  tree.get(root)?.type === 'dir' ? [...tree.descendants(root)].filter((p) => name.test(baseName(p)) && tree.get(p)?.type === 'dir') : [];

export const RUNTIMES: Runtime[] = [
  {
    name: 'jvm',
    // JAVA_HOME is the directory of bin/java or lib/server/libjvm.so, found from the real path.
    recognise: /^(.*)\/(bin\/java|lib\/server\/libjvm\.so)$/,
    async loads(ctx, home) {
      const lib = joinPath(home, 'lib');
      // Only a real JAVA_HOME (its class library in lib/modules, or rt.jar before Java 9); a /usr/bin/java launcher script is not one.
      if (!ctx.tree.has(joinPath(lib, 'modules')) && !ctx.tree.has(joinPath(lib, 'rt.jar'))) return [];
      const inLib = children(ctx.tree, lib).filter((p) => ctx.tree.get(p)?.type !== 'dir' && !/\/(ct\.sym|src\.zip|classlist)$/.test(p));
      return [
        { path: joinPath(home, 'conf'), why: 'reads its configuration (java.security, logging, net) from conf/' },
        { path: joinPath(lib, 'security'), why: 'reads its trust store and policy from lib/security/' },
        { path: joinPath(lib, 'server'), why: 'loads the VM and its class data archive from lib/server/' },
        ...inLib.map((path) => ({ path, why: /\.so$/.test(path) ? 'loads JNI libraries by name (System.loadLibrary)' : 'reads runtime data from lib/ (modules, tzdb.dat, jvm.cfg)' })),
        ...(ctx.env.get('CLASSPATH') ?? '').split(':').filter((p) => p.startsWith('/')).map((path) => ({ path, why: 'CLASSPATH names it' })),
      ];
    },
  },
  {
    name: 'python',
    recognise: /^(.*)\/(?:bin\/python\d(?:\.\d+)?|lib\/(?:[^/]+\/)?libpython\d\.\d+\.so(?:\.[\d.]+)?)$/,
    async loads(ctx, home) {
      const stdlibs = [joinPath(home, 'lib'), ...children(ctx.tree, joinPath(home, 'lib'))].flatMap((d) => children(ctx.tree, d)).filter((p) => /\/python\d\.\d+$/.test(p));
      return stdlibs.flatMap((dir) => [
        { path: joinPath(dir, 'lib-dynload'), why: 'imports extension modules from lib-dynload/' },
        { path: joinPath(dir, 'encodings'), why: 'looks up codecs by name in encodings/' },
      ]);
    },
  },
  {
    name: 'ruby',
    recognise: /^(.*)\/(?:bin\/ruby[\d.]*|lib\/(?:[^/]+\/)?libruby[-\d.]*\.so(?:\.[\d.]+)?)$/,
    async loads(ctx, home) {
      // Gem homes: the prefix's own, the ones the environment names (GEM_HOME, GEM_PATH, BUNDLE_PATH), and
      // /var/lib/gems, where Debian's RubyGems installs by default.
      const named = ['GEM_HOME', 'GEM_PATH', 'BUNDLE_PATH'].flatMap((v) => (ctx.env.get(v) ?? '').split(':')).filter((p) => p.startsWith('/'));
      const roots = [joinPath(home, 'lib/ruby'), ...children(ctx.tree, joinPath(home, 'lib')).flatMap((d) => [joinPath(d, 'ruby'), joinPath(d, 'rubygems-integration')]), joinPath(home, 'share/rubygems-integration'), ...named, '/var/lib/gems'];
      const out: Array<{ path: string; why: string }> = [];
      for (const root of roots) {
        for (const dir of dirsNamed(ctx.tree, root, /^enc$/)) if (/\/ruby\/\d[\d.]*(\/[^/]+)?\/enc$/.test(dir)) out.push({ path: dir, why: 'loads encodings by name from enc/' });
        // A gem home: RubyGems reads every specification, and warns about a gem whose extensions/ marker is missing.
        for (const dir of dirsNamed(ctx.tree, root, /^specifications$/)) {
          for (const part of [dir, joinPath(parentOf(dir), 'extensions')]) out.push({ path: part, why: 'RubyGems reads every gem specification and extension marker at start-up' });
        }
        if (ctx.tree.get(root)?.type === 'dir') for (const p of ctx.tree.descendants(root)) if (baseName(p) === 'rbconfig.rb') out.push({ path: p, why: 'requires rbconfig' });
      }
      return out;
    },
  },
  {
    name: 'php',
    recognise: /^(.*)\/(?:s?bin\/php(?:-fpm)?[\d.]*)$/,
    async loads(ctx, home) {
      // extension= lines of every SAPI's php.ini and conf.d/*.ini; bare names are looked up in the extension directories.
      const etc = home === '/usr' ? '/etc/php' : joinPath(home, 'etc');
      const inis = [...(ctx.tree.get(etc)?.type === 'dir' ? ctx.tree.descendants(etc) : [])].filter((p) => p.endsWith('.ini'));
      const extensionDirs = [joinPath(home, 'lib/php'), joinPath(home, 'local/lib/php')].flatMap((d) => dirsNamed(ctx.tree, d, /^(\d{8}|extensions|no-debug-non-zts-\d+)$/).concat(children(ctx.tree, joinPath(d, 'extensions'))));
      const out: Array<{ path: string; why: string }> = [];
      for (const ini of inis) {
        out.push({ path: ini, why: 'reads its ini files at start-up' });
        for (const m of ((await readTextAt(ctx, ini)) ?? '').matchAll(/^\s*(?:zend_)?extension\s*=\s*"?([^"\s;]+)"?/gm)) {
          const name = m[1]!.endsWith('.so') ? m[1]! : `${m[1]}.so`;
          const candidates = name.startsWith('/') ? [name] : extensionDirs.map((d) => joinPath(d, name));
          const found = candidates.find((c) => ctx.tree.has(c));
          if (found) out.push({ path: found, why: `loads it: ${m[0].trim()} in ${showPath(ini)}` });
        }
      }
      return out;
    },
  },
];

/** JAVA_HOMEs of the kept JVMs: where a kept bin/java or libjvm.so sits beside the class library. */
export function javaHomes(ctx: RuleContext): string[] {
  const jvm = RUNTIMES.find((r) => r.name === 'jvm')!;
  const homes = new Set<string>();
  for (const path of ctx.kept) {
    const home = jvm.recognise.exec(path)?.[1];
    if (home && (ctx.tree.has(joinPath(home, 'lib/modules')) || ctx.tree.has(joinPath(home, 'lib/rt.jar')))) homes.add(home);
  }
  return [...homes];
}

/** Adds the real paths of symlinks under the requested paths: a runtime's conf/ often links into /etc. */
function withLinkTargets(tree: FileTree, requests: KeepRequest[]): KeepRequest[] {
  const out = [...requests];
  for (const { path, reason } of requests) {
    const under = tree.get(path)?.type === 'dir' ? [...tree.descendants(path)] : [path];
    for (const p of under) {
      if (tree.get(p)?.type !== 'symlink') continue;
      const real = tree.resolve(p).path;
      if (real) out.push({ path: real, reason: `target of ${showPath(p)}: ${reason}` });
    }
  }
  return out;
}

export async function runtimeLoadsByName(ctx: RuleContext): Promise<KeepRequest[]> {
  const out: KeepRequest[] = [];
  const homes = new Set<string>();
  for (const path of ctx.kept) {
    if (ctx.tree.get(path)?.type !== 'file') continue;
    for (const runtime of RUNTIMES) {
      const home = runtime.recognise.exec(path)?.[1];
      if (home === undefined || homes.has(`${runtime.name}:${home}`)) continue;
      homes.add(`${runtime.name}:${home}`);
      for (const { path: loaded, why } of await runtime.loads(ctx, home || '/')) {
        if (ctx.tree.has(loaded)) out.push({ path: loaded, reason: `${runtime.name} runtime ${showPath(home || '/')} ${why}` });
      }
    }
  }
  return dedupe(withLinkTargets(ctx.tree, out));
}
