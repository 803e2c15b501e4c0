// The HTML report is pure: generated report data in, one self-contained page out.
import { describe, expect, it } from 'vitest';
import { directoryTree, renderHtmlReport, squarify, type ImageReport } from '../src/report/html.js';

const image = (kept: ImageReport['kept']): ImageReport => ({
  image: 'app:1', slimTag: 'app.slim:1',
  original: { size: 100e6, files: 1000 }, slim: { size: 10e6, files: 100 },
  kept,
  verdicts: [
    { name: 'GET /', original: { status: 200, size: 10, contentType: 'text/html' }, slim: { status: 200, size: 10, contentType: 'text/html' }, verdict: 'same' },
    { name: 'GET /x', original: { status: 200, size: 10 }, slim: { status: 500, size: 3 }, verdict: 'different', why: 'status 200 vs 500' },
  ],
  packs: [{ name: 'zoneinfo', why: 'TZ is set' }],
  rules: [{ rule: 'traced', paths: 10, bytes: 1e6 }, { rule: 'app files (not from a package)', paths: 3, bytes: 4e6 }],
});

describe('html report', () => {
  it('sums bytes into directories, no deeper than asked', () => {
    const root = directoryTree([
      { path: '/usr/lib/x/a.so', bytes: 10, reasons: [] },
      { path: '/usr/lib/y/b.so', bytes: 5, reasons: [] },
      { path: '/etc/passwd', bytes: 1, reasons: [] },
    ], 2);
    expect(root.bytes).toBe(16);
    expect(root.children.get('usr')!.children.get('lib')!.bytes).toBe(15);
    expect(root.children.get('usr')!.children.get('lib')!.children.size).toBe(0);
  });

  it('lays out a treemap whose areas are proportional and inside the box, without overlaps', () => {
    const values = [50, 20, 10, 10, 5, 3, 2];
    const box = { x: 0, y: 0, w: 400, h: 200 };
    const rects = squarify(values, box);
    const total = values.reduce((a, b) => a + b, 0);
    rects.forEach((r, i) => {
      expect(r.w * r.h).toBeCloseTo((values[i]! / total) * box.w * box.h, 3);
      expect(r.x).toBeGreaterThanOrEqual(-1e-9);
      expect(r.y).toBeGreaterThanOrEqual(-1e-9);
      expect(r.x + r.w).toBeLessThanOrEqual(box.w + 1e-6);
      expect(r.y + r.h).toBeLessThanOrEqual(box.h + 1e-6);
    });
    for (let i = 0; i < rects.length; i++) {
      for (let j = i + 1; j < rects.length; j++) {
        const a = rects[i]!, b = rects[j]!;
        const overlap = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)) * Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
        expect(overlap).toBeLessThan(1e-6);
      }
    }
    expect(squarify([0, 0], box).every((r) => r.w === 0 && r.h === 0)).toBe(true);
  });

  it('is one self-contained page that escapes whatever the image names', () => {
    const html = renderHtmlReport({
      title: 'slim report',
      images: [image([
        { path: '/srv/<script>alert(1)</script>/x', bytes: 4e6, reasons: ['app directory /srv (not from a package)'] },
        { path: '/usr/lib/libc.so.6', bytes: 2e6, reasons: ['ELF dependency of /usr/bin/app'] },
      ])],
      fleet: { sumOfSizes: 30e6, uniqueBytes: 14e6, withoutSharedBase: { sumOfSizes: 30e6, uniqueBytes: 30e6 }, sharedBaseBytes: 8e6 },
    });
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)=/);
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('app.slim:1');
    expect(html).toContain('1/2 equivalent');
    expect(html).toContain('DIFFERENT: status 200 vs 500');
    // Kept bytes by the plan's own rules, largest first.
    expect(html).toMatch(/app files \(not from a package\)<\/span>.*4\.0 MB in 3 paths.*traced<\/span>.*1\.0 MB in 10 paths/s);
    expect(html).toMatch(/with the shared base layer<\/td><td>30\.0 MB<\/td><td>14\.0 MB/);
    expect(html).toMatch(/<svg class="treemap"[^>]*>.*<rect /s);
  });
});
