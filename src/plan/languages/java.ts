// Java: a jar names the jars it needs in its manifest's Class-Path, and its
// classes load JNI libraries by name (System.loadLibrary), never through DT_NEEDED.
import { joinPath, parentOf, showPath } from '../../paths.js';
import { existing, resolvePath, type KeepRequest } from '../rules/context.js';
import { javaHomes } from '../rules/runtimes.js';
import { loaderDirs } from '../rules/plugins.js';
import { jarManifest, zipEntries, zipRead } from '../zip.js';
import type { LanguageSupport } from './index.js';

export const java: LanguageSupport<'java'> = {
  name: 'java',

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
