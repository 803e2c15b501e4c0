// The HTML report: one self-contained file (no script, no network) a person can
// open to see original and slim side by side, why the kept bytes are there (by
// reason and by directory as a treemap), the probe verdicts and, for a fleet,
// what a shared base saves. Pure: report data in, text out.

export interface KeptFile {
  path: string;
  bytes: number;
  reasons: string[];
}

export interface VerdictRow {
  name: string;
  original?: { status: number; size: number; contentType?: string };
  slim?: { status: number; size: number; contentType?: string };
  verdict: string;
  why?: string;
}

export interface ImageReport {
  image: string;
  slimTag: string;
  original: { size: number; files: number };
  slim: { size: number; files: number };
  kept: KeptFile[];
  verdicts: VerdictRow[];
  packs: Array<{ name: string; why: string }>;
  /** What each keep rule added (the plan charges every kept path to one rule). */
  rules: Array<{ rule: string; paths: number; bytes: number }>;
  error?: string;
}

export interface FleetSavings {
  /** Sum of the image sizes, and the bytes a node stores and pulls (each layer once). */
  sumOfSizes: number;
  uniqueBytes: number;
  /** The same two numbers without the shared base layer. */
  withoutSharedBase: { sumOfSizes: number; uniqueBytes: number };
  sharedBaseBytes: number;
}

export interface HtmlReportInput {
  title: string;
  images: ImageReport[];
  fleet?: FleetSavings;
}

interface DirNode {
  name: string;
  path: string;
  bytes: number;
  children: Map<string, DirNode>;
}

/** Kept bytes summed into a directory tree, `depth` levels deep (deeper files count in their ancestor). */
export function directoryTree(kept: KeptFile[], depth: number): DirNode {
  const root: DirNode = { name: '/', path: '/', bytes: 0, children: new Map() };
  for (const file of kept) {
    if (file.bytes <= 0) continue;
    root.bytes += file.bytes;
    let node = root;
    const parts = file.path.split('/').filter(Boolean).slice(0, depth);
    for (const part of parts) {
      let child = node.children.get(part);
      if (!child) node.children.set(part, (child = { name: part, path: `${node.path === '/' ? '' : node.path}/${part}`, bytes: 0, children: new Map() }));
      child.bytes += file.bytes;
      node = child;
    }
  }
  return root;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * Squarified treemap layout (Bruls, Huizing, van Wijk): areas proportional to
 * values, rows chosen to keep rectangles close to square. Returns one rect per value, in order.
 */
export function squarify(values: number[], box: Rect): Rect[] {
  const total = values.reduce((a, b) => a + b, 0);
  const out: Rect[] = values.map(() => ({ x: box.x, y: box.y, w: 0, h: 0 }));
  if (total <= 0 || box.w <= 0 || box.h <= 0) return out;
  const scale = (box.w * box.h) / total;
  const order = values.map((v, i) => ({ i, area: v * scale })).filter((e) => e.area > 0).sort((a, b) => b.area - a.area);
  let free = { ...box };
  const worst = (row: number[], side: number) => {
    const sum = row.reduce((a, b) => a + b, 0);
    const max = Math.max(...row);
    const min = Math.min(...row);
    return Math.max((side * side * max) / (sum * sum), (sum * sum) / (side * side * min));
  };
  let row: typeof order = [];
  const layoutRow = () => {
    const sum = row.reduce((a, e) => a + e.area, 0);
    const horizontal = free.w >= free.h; // lay the row along the shorter side
    const thickness = horizontal ? sum / free.h : sum / free.w;
    let offset = 0;
    for (const e of row) {
      const length = e.area / thickness;
      out[e.i] = horizontal
        ? { x: free.x, y: free.y + offset, w: thickness, h: length }
        : { x: free.x + offset, y: free.y, w: length, h: thickness };
      offset += length;
    }
    free = horizontal
      ? { x: free.x + thickness, y: free.y, w: free.w - thickness, h: free.h }
      : { x: free.x, y: free.y + thickness, w: free.w, h: free.h - thickness };
    row = [];
  };
  for (const e of order) {
    const side = Math.min(free.w, free.h);
    if (row.length > 0 && worst([...row, e].map((r) => r.area), side) > worst(row.map((r) => r.area), side)) layoutRow();
    row.push(e);
  }
  if (row.length > 0) layoutRow();
  return out;
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function treemapSvg(root: DirNode, width: number, height: number): string {
  const rects: string[] = [];
  const draw = (node: DirNode, box: Rect, level: number, color: string) => {
    const children = [...node.children.values()].sort((a, b) => b.bytes - a.bytes);
    const own = node.bytes - children.reduce((a, c) => a + c.bytes, 0);
    const layout = squarify([...children.map((c) => c.bytes), Math.max(own, 0)], box);
    children.forEach((child, i) => {
      const r = layout[i]!;
      if (r.w < 1 || r.h < 1) return;
      // The first two levels get their own colours: one big top directory (/usr) must not paint it all alike.
      const fill = level <= 1 ? PALETTE[(i + level * 3) % PALETTE.length]! : color;
      const title = `${child.path}: ${mb(child.bytes)}`;
      rects.push(`<rect x="${r.x.toFixed(1)}" y="${r.y.toFixed(1)}" width="${r.w.toFixed(1)}" height="${r.h.toFixed(1)}" fill="${fill}" fill-opacity="${(0.45 + 0.2 * level).toFixed(2)}" stroke="#fff"><title>${escapeHtml(title)}</title></rect>`);
      if (r.w > 60 && r.h > 14) rects.push(`<text x="${(r.x + 3).toFixed(1)}" y="${(r.y + 12).toFixed(1)}">${escapeHtml(child.name)}</text>`);
      draw(child, { x: r.x + 2, y: r.y + 16, w: r.w - 4, h: r.h - 18 }, level + 1, fill);
    });
  };
  draw(root, { x: 0, y: 0, w: width, h: height }, 0, PALETTE[0]!);
  return `<svg class="treemap" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="kept bytes by directory">${rects.join('')}</svg>`;
}

function table(head: string[], rows: string[][], cls = ''): string {
  const th = head.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const tr = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
}

const answer = (a?: { status: number; size: number; contentType?: string }) => (a ? `${a.status} ${a.contentType?.split(';')[0] ?? ''} ${a.size} B` : '-');

function imageSection(r: ImageReport): string {
  const share = r.original.size > 0 ? (r.slim.size / r.original.size) * 100 : 0;
  const rules = [...r.rules].sort((a, b) => b.bytes - a.bytes || (a.rule < b.rule ? -1 : 1));
  const keptBytes = rules.reduce((a, k) => a + k.bytes, 0) || 1;
  const bars = rules.map((k, i) => `<div class="bar"><span class="label">${escapeHtml(k.rule)}</span><span class="fill" style="width:${((k.bytes / keptBytes) * 100).toFixed(1)}%;background:${PALETTE[i % PALETTE.length]}"></span><span class="num">${mb(k.bytes)} in ${k.paths} paths</span></div>`).join('');
  const same = r.verdicts.filter((v) => v.verdict === 'same').length;
  return `<section>
<h2>${escapeHtml(r.image)} → ${escapeHtml(r.slimTag)}</h2>
${r.error ? `<p class="error">${escapeHtml(r.error)}</p>` : ''}
<div class="side">${table(['', 'original', 'slim'], [
    ['size', mb(r.original.size), `${mb(r.slim.size)} (${share.toFixed(1)}%)`],
    ['files', String(r.original.files), String(r.slim.files)],
  ])}</div>
<h3>Kept bytes by rule</h3>${bars}
<h3>Kept bytes by directory</h3>${treemapSvg(directoryTree(r.kept, 3), 900, 360)}
<h3>Probes: ${same}/${r.verdicts.length} equivalent</h3>
${table(['probe', 'original', 'slim', 'verdict'], r.verdicts.map((v) => [v.name, answer(v.original), answer(v.slim), v.verdict === 'same' ? 'same' : `${v.verdict.toUpperCase()}${v.why ? `: ${v.why}` : ''}`]), 'verdicts')}
${r.packs.length ? `<h3>Packs</h3>${table(['pack', 'why'], r.packs.map((p) => [p.name, p.why]))}` : ''}
</section>`;
}

function fleetSection(f: FleetSavings): string {
  return `<section><h2>Fleet</h2>${table(['', 'sum of image sizes', 'unique bytes a node stores and pulls'], [
    ['separate slim images', mb(f.withoutSharedBase.sumOfSizes), mb(f.withoutSharedBase.uniqueBytes)],
    ['with the shared base layer', mb(f.sumOfSizes), mb(f.uniqueBytes)],
  ])}<p>The shared base layer holds ${mb(f.sharedBaseBytes)} that every image carries with the same digest.</p></section>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:960px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.2em .6em;text-align:left}
.verdicts td:last-child{font-weight:600}.error{color:#b00}
.bar{display:flex;align-items:center;gap:.5em;margin:.15em 0}.bar .label{width:16em}.bar .fill{height:1em;display:inline-block;min-width:1px}
.treemap text{font-size:11px;fill:#111;pointer-events:none}section{margin-bottom:3em}`;

export function renderHtmlReport(input: HtmlReportInput): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(input.title)}</h1>
${input.fleet ? fleetSection(input.fleet) : ''}
${input.images.map(imageSection).join('\n')}
</body></html>
`;
}
