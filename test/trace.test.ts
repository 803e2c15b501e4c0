// Trace record parsers, on traces recorded from the Django sample (fixtures/) and on edge cases.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseFanotifyRecord } from '../src/tracers/fanotify.js';
import { parseStrace } from '../src/tracers/strace.js';
import { addOp, emptyTrace, sameTrace, type Op } from '../src/trace/trace.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));

describe('fanotify record', () => {
  const trace = parseFanotifyRecord(fixture('django-site.fanotify'), 'fixture');

  it('holds the interpreter, Django modules and the templates of the probed pages', () => {
    expect(trace.paths.get('/usr/bin/python3.11')).toEqual(new Set(['exec']));
    expect([...trace.paths.keys()].some((p) => p.startsWith('/usr/lib/python3/dist-packages/django/'))).toBe(true);
    expect(trace.paths.has('/srv/site/clock/templates/clock/clock.html')).toBe(true);
    expect(trace.exitCode).toBe(0);
    expect(trace.overflow).toBe(false);
  });

  it('decodes escaped bytes and reports overflow', () => {
    const t = parseFanotifyRecord(Buffer.from('slim-trace 1 fanotify\nO /tab\\x09name\nX /bin/\xff\n! overflow\n', 'latin1'), 'x');
    expect(t.paths.has('/tab\tname')).toBe(true);
    expect(t.paths.get('/bin/\xff')).toEqual(new Set(['exec']));
    expect(t.overflow).toBe(true);
  });

  it('names the line of a malformed record', () => {
    expect(() => parseFanotifyRecord(Buffer.from('slim-trace 1 fanotify\nO /ok\nQ bad\n'), 'rec')).toThrow(/rec: line 3: malformed record/);
    expect(() => parseFanotifyRecord(Buffer.from('something else\n'), 'rec')).toThrow(/not a slim fanotify record/);
  });
});

describe('strace output', () => {
  const trace = parseStrace(gunzipSync(fixture('django-site.strace.gz')), '/srv/site');
  const ops = (p: string) => [...(trace.paths.get(p) ?? [])];

  it('sees failed lookups, stat-only paths, directory listings and executions', () => {
    expect(ops('/etc/ld.so.preload')).toContain('missing');
    expect(ops('/usr/lib/python3.11/lib-dynload')).toContain('readdir');
    expect(trace.executed).toContain('/usr/bin/gunicorn');
    const statOnly = [...trace.paths].filter(([, o]) => o.size === 1 && o.has('stat'));
    expect(statOnly.length).toBeGreaterThan(50);
    expect(ops('/srv/site/clock/templates/clock/clock.html')).toContain('open');
    expect(ops('/srv/site/pages/views.py')).toEqual(expect.arrayContaining(['open', 'stat']));
  });

  it('joins unfinished calls, resolves relative paths and follows chdir and fork', () => {
    const text = [
      '10 openat(AT_FDCWD</app>, "rel/a.txt", O_RDONLY <unfinished ...>',
      '11 execve("/bin/sh", ["sh"], 0x7ff /* 3 vars */) = 0',
      '10 <... openat resumed>) = 3</app/rel/a.txt>',
      '10 chdir("/data") = 0',
      '10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 12',
      '12 stat("x\\303\\251", {st_mode=S_IFREG|0644, st_size=1, ...}) = 0',
      '12 newfstatat(3</etc>, "../usr/./lib/", 0x1, 0) = -1 ENOENT (No such file or directory)',
      '12 readlink("/proc/self/exe", "/bin/sh", 4096) = 7',
      '12 openat(AT_FDCWD</data>, "out.log", O_WRONLY|O_CREAT|O_APPEND, 0666) = 4</data/out.log>',
      '12 openat(AT_FDCWD</data>, "/etc", O_RDONLY|O_DIRECTORY) = 5</etc>',
      '10 +++ exited with 0 +++',
    ].join('\n');
    const t = parseStrace(Buffer.from(text, 'latin1'), '/app');
    expect(t.paths.get('/app/rel/a.txt')).toEqual(new Set(['open']));
    expect(t.paths.get('/bin/sh')).toEqual(new Set(['exec']));
    expect(t.paths.get(Buffer.from('/data/xé', 'utf8').toString('latin1'))).toEqual(new Set(['stat']));
    expect(t.paths.get('/usr/lib')).toEqual(new Set(['missing']));
    expect(t.paths.get('/proc/self/exe')).toEqual(new Set(['readlink']));
    expect(t.paths.get('/data/out.log')).toEqual(new Set(['write']));
    expect(t.paths.get('/etc')).toEqual(new Set(['readdir']));
    expect(t.exitCode).toBe(0);
  });
});

describe('two traces the same', () => {
  const trace = (entries: Array<[string, Op]>, executed: string[] = []) => {
    const t = emptyTrace('fanotify');
    for (const [path, op] of entries) addOp(t, path, op);
    t.executed.push(...executed.filter((p) => !t.executed.includes(p)));
    return t;
  };
  const base: Array<[string, Op]> = [['/bin/sh', 'exec'], ['/etc/app.conf', 'open'], ['/var/log/app', 'write']];

  it('only when they saw the same paths with the same operations and ran the same programs in the same order', () => {
    expect(sameTrace(trace(base), trace([...base].reverse()))).toBe(true);
    expect(sameTrace(trace(base), trace([...base, ['/etc/farewell', 'open']]))).toBe(false);
    expect(sameTrace(trace(base), trace([...base, ['/etc/app.conf', 'write']]))).toBe(false);
    expect(sameTrace(trace([...base, ['/bin/cat', 'exec']]), trace([['/bin/cat', 'exec'], ...base]))).toBe(false);
    expect(sameTrace(trace(base.slice(1)), trace(base.slice(1), ['/bin/true']))).toBe(false);
  });
});
