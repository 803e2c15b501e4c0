// The shared base of a fleet, on generated entries: what is shared, what each
// image keeps on top, hard-link groups, whiteouts, and that contents are hashed
// only where metadata agree.
import { describe, expect, it } from 'vitest';
import { planSharedBase, type FleetEntry } from '../src/fleet/shared-base.js';

let inode = 0;
const entry = (path: string, over: Partial<FleetEntry> = {}): FleetEntry => ({
  path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: 1_700_000_000, xattrs: new Map(), inode: ++inode, ...over,
});
const dir = (path: string, over: Partial<FleetEntry> = {}) => entry(path, { type: 'dir', mode: 0o755, size: 0, ...over });
const image = (...entries: FleetEntry[]) => new Map(entries.map((e) => [e.path, e]));

describe('shared base', () => {
  it('shares identical entries, keeps differing ones in each image, and whiteouts what an image lacks', async () => {
    const libc = () => entry('/usr/lib/libc.so.6', { size: 2_000_000 });
    const images = [
      image(dir('/usr'), dir('/usr/lib'), libc(), entry('/etc/passwd', { size: 5 }), entry('/app/a.py')),
      image(dir('/usr'), dir('/usr/lib'), libc(), entry('/etc/passwd', { size: 6 }), entry('/app/b.py')),
      image(dir('/usr'), dir('/usr/lib', { mtime: 1 }), libc(), entry('/etc/passwd', { size: 5 })),
    ];
    const contents: Record<string, string> = { '/usr/lib/libc.so.6': 'same', '/etc/passwd': 'same', '/app/a.py': 'a', '/app/b.py': 'b' };
    const hashed: string[] = [];
    const plan = await planSharedBase(images, async (i, e) => {
      hashed.push(`${i}:${e.path}`);
      return contents[e.path]!;
    }, 2);
    expect(plan.base).toEqual(['/etc/passwd', '/usr', '/usr/lib', '/usr/lib/libc.so.6']);
    expect(plan.baseBytes).toBe(2_000_005);
    expect(plan.own[0]).toEqual({ paths: ['/app/a.py'], whiteouts: [] });
    // Image 1 has its own /etc/passwd (different size): it overrides the base's.
    expect(plan.own[1]).toEqual({ paths: ['/app/b.py', '/etc/passwd'], whiteouts: [] });
    // Image 2's /usr/lib differs in mtime: its own layer carries its version of the directory.
    expect(plan.own[2]).toEqual({ paths: ['/usr/lib'], whiteouts: [] });
    // Contents are hashed only where metadata agree in enough images: never /app/*.
    expect(hashed.some((h) => h.includes('/app/'))).toBe(false);
  });

  it('requires every image by default, and hides base entries an image did not keep', async () => {
    const images = [
      image(dir('/etc'), entry('/etc/hosts'), dir('/opt'), dir('/opt/tool'), entry('/opt/tool/bin')),
      image(dir('/etc'), entry('/etc/hosts'), dir('/opt'), dir('/opt/tool'), entry('/opt/tool/bin')),
      image(dir('/etc'), entry('/etc/hosts')),
    ];
    const all = await planSharedBase(images, async () => 'x');
    expect(all.base).toEqual(['/etc', '/etc/hosts']);
    const most = await planSharedBase(images, async () => 'x', 2);
    expect(most.base).toEqual(['/etc', '/etc/hosts', '/opt', '/opt/tool', '/opt/tool/bin']);
    // One whiteout for the topmost missing directory hides the rest.
    expect(most.own[2]!.whiteouts).toEqual(['/opt']);
  });

  it('keeps a hard-link group in one layer', async () => {
    const linked = (n: number) => [entry('/bin/a', { inode: n }), entry('/bin/b', { inode: n, type: 'hardlink', size: 0, linkTarget: '/bin/a' })];
    const images = [image(...linked(1001)), image(...linked(2001)), image(entry('/bin/a', { inode: 3001 }))];
    // /bin/a is identical in all three, but in two images it is hard-linked with /bin/b, which the third lacks.
    const plan = await planSharedBase(images, async () => 'same');
    expect(plan.base).toEqual([]);
    const two = await planSharedBase(images.slice(0, 2), async () => 'same');
    expect(two.base).toEqual(['/bin/a', '/bin/b']);
  });

  it('compares xattrs byte for byte and never shares content that differs', async () => {
    const cap = (b: number) => new Map([['security.capability', Buffer.from([1, 0, 0, 2, b])]]);
    const images = [image(entry('/bin/ping', { xattrs: cap(0x20) })), image(entry('/bin/ping', { xattrs: cap(0x21) }))];
    expect((await planSharedBase(images, async () => 'same')).base).toEqual([]);
    const same = [image(entry('/x')), image(entry('/x'))];
    expect((await planSharedBase(same, async (i) => `content-${i}`)).base).toEqual([]);
  });
});
