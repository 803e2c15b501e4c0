// Java: a jar names the jars it needs in its manifest's Class-Path, and its
// classes load JNI libraries by name (System.loadLibrary), never through
// DT_NEEDED. Its runtime is the JVM, which loads its own configuration, trust
// store and libraries from JAVA_HOME by name.
import { joinPath, parentOf, resolvePath, showPath } from '../../paths.js';
import { childPaths, existing, type KeepRequest, type Runtime, type RuleContext } from '../rules/context.js';
import { loaderDirs } from '../rules/plugins.js';
import { jarManifest, zipEntries, zipRead } from '../zip.js';
import type { LanguageSupport } from './index.js';

/** Whether a directory is a real JAVA_HOME: its class library in lib/modules, or rt.jar before Java 9 (a /usr/bin/java launcher script is not one). */
const isJavaHome = (ctx: RuleContext, home: string) => ctx.tree.has(joinPath(home, 'lib/modules')) || ctx.tree.has(joinPath(home, 'lib/rt.jar'));

const jvm: Runtime = {
  name: 'jvm',
  // JAVA_HOME is the directory of bin/java or lib/server/libjvm.so, found from the real path.
  recognise: /^(.*)\/(bin\/java|lib\/server\/libjvm\.so)$/,
  async loads(ctx, home) {
    if (!isJavaHome(ctx, home)) return [];
    const lib = joinPath(home, 'lib');
    const inLib = childPaths(ctx.tree, lib).filter((p) => ctx.tree.get(p)?.type !== 'dir' && !/\/(ct\.sym|src\.zip|classlist)$/.test(p));
    return [
      { path: joinPath(home, 'conf'), why: 'reads its configuration (java.security, logging, net) from conf/' },
      { path: joinPath(lib, 'security'), why: 'reads its trust store and policy from lib/security/' },
      { path: joinPath(lib, 'server'), why: 'loads the VM and its class data archive from lib/server/' },
      ...inLib.map((path) => ({ path, why: /\.so$/.test(path) ? 'loads JNI libraries by name (System.loadLibrary)' : 'reads runtime data from lib/ (modules, tzdb.dat, jvm.cfg)' })),
      ...(ctx.env.get('CLASSPATH') ?? '').split(':').filter((p) => p.startsWith('/')).map((path) => ({ path, why: 'CLASSPATH names it' })),
    ];
  },
};

/** JAVA_HOMEs of the kept JVMs: where a kept bin/java or libjvm.so sits beside the class library. */
function javaHomes(ctx: RuleContext): string[] {
  const homes = new Set<string>();
  for (const path of ctx.kept) {
    const home = jvm.recognise.exec(path)?.[1];
    if (home && isJavaHome(ctx, home)) homes.add(home);
  }
  return [...homes];
}

export const java: LanguageSupport<'java'> = {
  name: 'java',

  code: /\.(jar|class)$/,
  runtime: jvm,

  scanner: {
    files: /\.jar$/,
    async scan(ctx, path, data) {
      const out: KeepRequest[] = [];
      for (const url of (jarManifest(data).get('Class-Path') ?? '').split(/\s+/).filter(Boolean)) {
        const target = resolvePath(parentOf(path), decodeURIComponent(url.replace(/^file:/, '')));
        if (ctx.tree.has(target)) out.push({ path: target, reason: `Class-Path of ${showPath(path)}` });
      }
      // System.loadLibrary("name") loads lib<name>.so from java.library.path: the jar's directory, the JVM's lib/ and the loader's.
      const libraryPath = [parentOf(path), ...javaHomes(ctx).map((home) => joinPath(home, 'lib')), ...(await loaderDirs(ctx))];
      for (const entry of zipEntries(data)) {
        if (!entry.name.endsWith('.class')) continue;
        const bytes = zipRead(data, entry);
        if (!bytes?.includes('loadLibrary')) continue;
        for (const name of new Set(bytes.toString('latin1').match(/[A-Za-z][\w-]{1,40}/g) ?? [])) {
          const lib = existing(ctx.tree, libraryPath.map((d) => joinPath(d, `lib${name}.so`)));
          if (lib) out.push({ path: lib, reason: `System.loadLibrary("${name}") in ${showPath(path)}!${entry.name}` });
        }
      }
      return out;
    },
  },
};
