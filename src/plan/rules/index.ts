// Keep rules that predict what a program will load later from what the image
// says about it (issues 12 and 15). Each rule is pure: it reads the image
// through a RuleContext and returns keep requests; the caller keeps each path
// (directories whole, following symlinks), then the ELF closure of what it kept.
//
// rule (file)                         serves                                  derived from                                    reason text
// packageOfKeptCode (packages.ts)     interpreted code of any packaged         dpkg/apk lists, the languages' records (pip     "package NAME (MANAGER) owns traced PATH"
//                                     library (gems, Perl, PHP, Python, npm)   RECORD, npm package.json, gemspecs)
// installTimeFiles (packages.ts)      files maintainer scripts make: trust     the package that owns the directory             "made at install time in DIR, which kept package NAME owns"
//                                     stores, locale-archive, font caches
// configurationOfKeptPackages         libraries configured by files and data   dpkg Conffiles, Depends on -common/-data/       "configuration of kept package NAME",
//   (packages.ts)                     packages; configs that run programs      -config/fonts-*, delegates.xml, mailcap         "data package NAME that ... depends on", "program named in FILE"
// pluginSiblings (plugins.ts)         loaders that dlopen plugins from a       kept .so nobody DT_NEEDs, outside ld.so's       "plugin beside SO, which was loaded by path from DIR"
//                                     directory (gconv, coders, PAM, PHP XS)   search path, with ≥2 sibling .so
// programsCalledByScripts (shell.ts)  shell entrypoints, CGI scripts, hooks;   the scripts' command words, literal commands    "called by FILE:LINE"
//                                     apps that run programs (subprocess...)   of the languages' program calls, on PATH
// staticScans (scans.ts, scanners in  Ruby, PHP (composer), Perl, Java jars    require/include/use, Class-Path, loadLibrary    "require 'x' in FILE:LINE", "Class-Path of JAR"...
//   languages/ table entries)
// runtimeLoadsByName (runtimes.ts,    JVM, Python, Ruby, PHP runtimes          the runtime's install root (real path of the    "jvm runtime HOME loads JNI libraries by name..."
//   runtimes in languages/ entries)                                            binary), its ini files
// appState (state.ts)                 non-root apps with data, VOLUMEs         USER through /etc/passwd, file owners, VOLUME   "owned by the runtime user NAME", "VOLUME DIR of the image"
//
// Rules that follow code (12.2 package of code, 12.4, 12.5) start from code in use: the traced
// paths and kept files no package installed (RuleContext.traced), not package files a pack kept.
// The caller runs the rules again while they add paths (what one keeps, another follows).
// What the rules know about each language (its code files, program calls, package
// records, runtime, scanner) they read from the language table (plan/languages/).
//
// symbolNeeds (symbols.ts) is not a keep rule: it names packs (gconv, locales,
// nss, passwd, certs) a kept ELF file's imported symbols need, for the caller
// to turn on ("/usr/local/bin/text imports iconv_open").
import { packageOfKeptCode, installTimeFiles, configurationOfKeptPackages } from './packages.js';
import { pluginSiblings } from './plugins.js';
import { runtimeLoadsByName } from './runtimes.js';
import { staticScans } from './scans.js';
import { programsCalledByScripts } from './shell.js';
import { appState } from './state.js';
import type { KeepRule } from './context.js';

export type { KeepRequest, KeepRule, RuleContext, Runtime, Scanner } from './context.js';
export { symbolNeeds, SYMBOL_NEEDS, type Need, type NeedName } from './symbols.js';

/**
 * `from`: 'image' rules read only the image (its config, file owners) and run once, before
 * the app-file rule, so their reasons come first; 'kept' rules follow what is kept and run
 * again while any of them keeps something new.
 */
export const KEEP_RULES: Array<{ name: string; issue: string; from: 'image' | 'kept'; rule: KeepRule }> = [
  { name: 'app-state', issue: '15.1', from: 'image', rule: appState },
  { name: 'package-of-kept-code', issue: '12.2', from: 'kept', rule: packageOfKeptCode },
  { name: 'install-time-files', issue: '15.2', from: 'kept', rule: installTimeFiles },
  { name: 'package-configuration', issue: '15.4', from: 'kept', rule: configurationOfKeptPackages },
  { name: 'plugin-siblings', issue: '12.3', from: 'kept', rule: pluginSiblings },
  { name: 'scripts-call-programs', issue: '12.4', from: 'kept', rule: programsCalledByScripts },
  { name: 'static-scans', issue: '12.5', from: 'kept', rule: staticScans },
  { name: 'runtime-loads-by-name', issue: '15.3', from: 'kept', rule: runtimeLoadsByName },
];
