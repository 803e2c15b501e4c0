// 12.4: scripts call programs. A kept shell script (entrypoint, CGI script,
// hook) runs other programs on paths the probe may never take; this reads the
// command words out of it and keeps the programs they name on the image's PATH
// (and, when those are shell scripts too, what they call). Code of any
// language in the language table that runs a literal command counts too; the
// shell is no entry there (it keeps no packages and has no records), so its
// own parser stays here.
import { LANGUAGE_TABLE, languageTableOf, type LanguageSupport } from '../languages/index.js';
import { codeInUse } from './packages.js';
import { dedupe, fileAt, findOnPath, searchPath, type KeepRequest, type RuleContext } from './context.js';
import type { ContentSource } from '../../image/content.js';
import type { FileEntry } from '../../image/tree.js';
import { showPath } from '../../paths.js';

const SHELLS = /^(ba|da|a|k|z|mk|po)?sh$/;
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'for', 'in', 'do', 'done', 'while', 'until', 'case', 'esac', 'function', 'select', '{', '}', '!', '[[', ']]', 'time', 'coproc']);
/** Builtins of POSIX sh and bash: they run no program. */
const BUILTINS = new Set(['.', ':', '[', 'alias', 'bg', 'bind', 'break', 'builtin', 'cd', 'continue', 'declare', 'echo', 'eval', 'exit', 'export', 'false', 'fg', 'getopts', 'hash', 'jobs', 'let', 'local', 'mapfile', 'printf', 'pwd', 'read', 'readarray', 'readonly', 'return', 'set', 'shift', 'shopt', 'source', 'test', 'times', 'trap', 'true', 'type', 'typeset', 'ulimit', 'umask', 'unalias', 'unset', 'wait']);
/** Commands that run the command after their own options: the program is the next word. */
const WRAPPERS = new Set(['exec', 'env', 'xargs', 'nohup', 'command', 'nice', 'timeout', 'chroot', 'setsid', 'stdbuf', 'su-exec', 'gosu', 'tini', 'dumb-init']);

/**
 * Commands code in another language runs through its calls (the language table's
 * programCalls: subprocess.run(["identify", ...]), system("sort ..."), backticks), with their line numbers.
 */
export function commandsCalledBy(path: string, text: string, table: readonly LanguageSupport[] = LANGUAGE_TABLE): CommandUse[] {
  const calls = programCallsOf(table, path);
  if (!calls) return [];
  return [...text.matchAll(calls)].flatMap((m) => {
    const line = text.slice(0, m.index).split('\n').length;
    return commandsOf(m[2] ?? m[3] ?? m[4] ?? '').map(({ command }) => ({ command, line }));
  });
}

/** The calls that run programs in a file's language, if the table has any for it. */
const programCallsOf = (table: readonly LanguageSupport[], path: string): RegExp | undefined => table.map((l) => l.programCalls).find((c) => c?.files.test(path))?.calls;

export interface CommandUse {
  command: string;
  line: number;
}

/** Whether a file's head says it is a shell script (a shell shebang, or none and a .sh name). */
export function isShellScript(path: string, head: Buffer): boolean {
  const text = head.toString('latin1');
  if (!text.startsWith('#!')) return path.endsWith('.sh') && !text.includes('\0');
  const words = text.slice(2).split('\n')[0]!.trim().split(/\s+/);
  const program = words[0]?.split('/').pop() === 'env' ? words.find((w, i) => i > 0 && !w.startsWith('-')) : words[0];
  const name = program?.split('/').pop() ?? '';
  return SHELLS.test(name) || (name === 'busybox' && SHELLS.test(words[1] ?? ''));
}

/** Text inside $( ... ) and backticks, found outside single quotes; each is a script of its own. */
function substitutions(line: string): { outer: string; inner: string[] } {
  const inner: string[] = [];
  let outer = '';
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = '';
      outer += c;
    } else if (c === '\\') {
      outer += c + (line[i + 1] ?? '');
      i++;
    } else if (c === "'" && !quote) {
      quote = c;
      outer += c;
    } else if (c === '"') {
      quote = quote === '"' ? '' : '"';
      outer += c;
    } else if ((c === '$' && line[i + 1] === '(' && line[i + 2] !== '(') || c === '`') {
      let depth = 0;
      let j = c === '`' ? i + 1 : i + 2;
      const start = j;
      for (; j < line.length; j++) {
        if (c === '`' ? line[j] === '`' : line[j] === ')' && depth-- === 0) break;
        if (c !== '`' && line[j] === '(') depth++;
      }
      inner.push(line.slice(start, j));
      outer += '$_';
      i = j;
    } else outer += c;
  }
  return { outer, inner };
}

/** Simple commands of one line (after substitutions were taken out): lists of words. */
function simpleCommands(line: string): string[][] {
  const commands: string[][] = [[]];
  // Where the current pipeline began, and open parentheses: an unmatched ')' ends a case pattern ("start|stop)").
  let pipelineStart = 0;
  let depth = 0;
  let word = '';
  let quoted = false;
  let quote = '';
  const endWord = () => {
    if (word || quoted) commands[commands.length - 1]!.push(quoted ? `'${word}` : word);
    word = '';
    quoted = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = '';
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      quoted = true;
    } else if (c === '\\') word += line[++i] ?? '';
    else if (c === '#' && !word) break;
    else if (c === ')' && depth === 0) {
      word = '';
      commands.length = pipelineStart;
      commands.push([]);
    } else if (/[;&|()\n]/.test(c)) {
      endWord();
      if (c === '(') depth++;
      else if (c === ')') depth--;
      commands.push([]);
      if (c !== '|') pipelineStart = commands.length - 1;
    } else if (/\s/.test(c)) endWord();
    else if ((c === '<' || c === '>') && /^\d*$/.test(word)) {
      // A redirection (with its file descriptor): skip its target word.
      word = '';
      while (/[<>&0-9-]/.test(line[i + 1] ?? '')) i++;
      while (/\s/.test(line[i + 1] ?? '')) i++;
      while (i + 1 < line.length && !/[\s;&|()]/.test(line[i + 1]!)) i++;
    } else word += c;
  }
  endWord();
  return commands.filter((c) => c.length > 0);
}

/** The program a simple command runs, or undefined for builtins, keywords, variables and functions. */
function programOf(words: string[], functions: Set<string>): string | undefined {
  let i = 0;
  const skipAssignments = () => {
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
  };
  skipAssignments();
  while (i < words.length && KEYWORDS.has(words[i]!)) i++;
  skipAssignments();
  while (i < words.length && WRAPPERS.has(words[i]!)) {
    i++;
    while (i < words.length && (words[i]!.startsWith('-') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!) || /^\d+[smhd]?$/.test(words[i]!))) i++;
  }
  const word = words[i]?.replace(/^'/, '');
  if (!word || word.includes('$') || word.includes(')') || word.includes('=') || /[*?[\]{}]/.test(word)) return undefined;
  if (BUILTINS.has(word) || KEYWORDS.has(word) || functions.has(word)) return undefined;
  return /^[A-Za-z0-9_./+-]+$/.test(word) ? word : undefined;
}

/** Commands a shell script runs, with their line numbers. */
export function commandsOf(script: string): CommandUse[] {
  const lines = script.split('\n');
  const functions = new Set([...script.matchAll(/^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\s*\)/gm), ...script.matchAll(/^\s*function\s+([A-Za-z_][\w-]*)/gm)].map((m) => m[1]!));
  const out: CommandUse[] = [];
  let heredoc: string | undefined;
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!;
    const lineNumber = n + 1;
    if (heredoc !== undefined) {
      if (line.replace(/^\t+/, '') === heredoc) heredoc = undefined;
      continue;
    }
    while (line.endsWith('\\') && n + 1 < lines.length) line = line.slice(0, -1) + lines[++n];
    heredoc = /<<-?\s*['"]?([A-Za-z_]\w*)['"]?/.exec(line)?.[1];
    const pending = [line];
    while (pending.length > 0) {
      const { outer, inner } = substitutions(pending.pop()!);
      pending.push(...inner);
      for (const words of simpleCommands(outer)) {
        const command = programOf(words, functions);
        if (command) out.push({ command, line: lineNumber });
      }
    }
  }
  return out;
}

/** The commands a file runs, read once per file, image and language table: the rule runs every round, over every kept script. */
const commandsByFile = new WeakMap<ContentSource, WeakMap<readonly LanguageSupport[], Map<string, Promise<CommandUse[]>>>>();

function commandsIn(ctx: RuleContext, script: string, entry: FileEntry): Promise<CommandUse[]> {
  const table = languageTableOf(ctx);
  let byTable = commandsByFile.get(ctx.content);
  if (!byTable) commandsByFile.set(ctx.content, (byTable = new WeakMap()));
  let files = byTable.get(table);
  if (!files) byTable.set(table, (files = new Map()));
  let found = files.get(script);
  if (!found) {
    found = (async () => {
      const head = await ctx.content.read(entry, 256);
      const shell = isShellScript(script, head);
      if (!shell && !programCallsOf(table, script)) return [];
      const text = (entry.size <= head.length ? head : await ctx.content.read(entry)).toString('latin1');
      return shell ? commandsOf(text) : commandsCalledBy(script, text, table);
    })();
    files.set(script, found);
  }
  return found;
}

export async function programsCalledByScripts(ctx: RuleContext): Promise<KeepRequest[]> {
  const dirs = searchPath(ctx.env);
  const out: KeepRequest[] = [];
  const parsed = new Set<string>();
  // Breadth first, a generation of scripts at a time: their reads go out together.
  for (let scripts = await codeInUse(ctx); scripts.length > 0;) {
    const generation = scripts.flatMap((script) => {
      const entry = fileAt(ctx.tree, script);
      if (!entry || parsed.has(entry.path)) return [];
      parsed.add(entry.path);
      return [{ script, commands: commandsIn(ctx, script, entry) }];
    });
    const commands = await Promise.all(generation.map((g) => g.commands));
    scripts = [];
    generation.forEach(({ script }, i) => {
      for (const { command, line } of commands[i]!) {
        const program = command.includes('/') ? (fileAt(ctx.tree, command) ? command : undefined) : findOnPath(ctx.tree, dirs, command);
        if (!program) continue;
        out.push({ path: program, reason: `called by ${showPath(script)}:${line}` });
        scripts.push(program);
      }
    });
  }
  return dedupe(out);
}
