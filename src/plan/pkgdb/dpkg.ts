// dpkg's database: /var/lib/dpkg/status (Depends, Conffiles) with the file
// lists in info/NAME[:ARCH].list, or distroless' status.d/NAME paragraphs with
// status.d/NAME.md5sums as the file list.
import { readTextAt, type RuleContext } from '../rules/context.js';
import type { Package } from './index.js';
import { joinPath } from '../../paths.js';

type Source = Pick<RuleContext, 'tree' | 'content'>;

/** RFC 822-style paragraphs (dpkg status, apk installed) → field maps; continuation lines join with '\n'. */
export function paragraphs(text: string): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of block.split('\n')) {
      if (/^[ \t]/.test(line) && last) fields.set(last, `${fields.get(last)}\n${line.trim()}`);
      else {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        last = line.slice(0, colon);
        fields.set(last, line.slice(colon + 1).trim());
      }
    }
    if (fields.size > 0) out.push(fields);
  }
  return out;
}

/** Package names of a Depends-style field: every alternative, without versions or architectures. */
export function dependencyNames(field: string | undefined): string[] {
  if (!field) return [];
  return field.split(/[,|]/).map((d) => d.trim().split(/[\s(:]/)[0]!).filter(Boolean);
}

function fromParagraph(fields: Map<string, string>, files: string[], record: string | undefined): Package {
  return {
    record,
    manager: 'dpkg',
    name: fields.get('Package')!,
    version: fields.get('Version'),
    files,
    depends: [...dependencyNames(fields.get('Depends')), ...dependencyNames(fields.get('Pre-Depends'))],
    conffiles: (fields.get('Conffiles') ?? '').split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter((p) => p.startsWith('/')),
  };
}

const listLines = (text: string | undefined): string[] => (text ?? '').split('\n').filter((l) => l.startsWith('/') && l !== '/.');

/** Every file is asked for before any answer is awaited: reads issued together share round trips to the image. */
export async function readDpkg(src: Source): Promise<Package[]> {
  const packages: Array<Promise<Package | undefined>> = [];
  const infoDir = '/var/lib/dpkg/info';
  const lists = new Set(src.tree.children(infoDir).filter((n) => n.endsWith('.list')));
  const readList = async (list: string | undefined) => (list ? listLines(await readTextAt(src, joinPath(infoDir, list))) : []);
  const fromList = async (fields: Map<string, string>, list: string | undefined) => fromParagraph(fields, await readList(list), list && joinPath(infoDir, list));
  for (const fields of paragraphs((await readTextAt(src, '/var/lib/dpkg/status')) ?? '')) {
    const name = fields.get('Package');
    if (!name) continue;
    const list = [`${name}:${fields.get('Architecture')}.list`, `${name}.list`].find((l) => lists.has(l));
    if (list) lists.delete(list);
    if (/\binstalled$/.test(fields.get('Status') ?? '')) packages.push(fromList(fields, list));
  }
  // A file list no status paragraph names (a trimmed status file) still says what dpkg unpacked.
  for (const list of lists) packages.push(fromList(new Map([['Package', list.replace(/(:[^:]+)?\.list$/, '')]]), list));
  const statusDir = '/var/lib/dpkg/status.d';
  for (const name of src.tree.children(statusDir).filter((n) => !n.includes('.'))) {
    packages.push((async () => {
      const [status, sums] = await Promise.all([readTextAt(src, joinPath(statusDir, name)), readTextAt(src, joinPath(statusDir, `${name}.md5sums`))]);
      const fields = paragraphs(status ?? '')[0];
      if (!fields?.get('Package')) return undefined;
      const files = (sums ?? '').split('\n').map((l) => l.replace(/^[0-9a-f]+\s+/, '').trim()).filter(Boolean).map((p) => `/${p}`);
      return fromParagraph(fields, files, joinPath(statusDir, `${name}.md5sums`));
    })());
  }
  return (await Promise.all(packages)).filter((p): p is Package => p !== undefined);
}
