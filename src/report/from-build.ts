// What the HTML report gets from builds: each kept file with its bytes (a
// hard-linked file counts once, a stripped one at its new size) and reasons,
// the verdicts, and a fleet's bytes.
import type { BuildResult } from '../build.js';
import { showPath } from '../paths.js';
import type { FileTree } from '../image/tree.js';
import type { FleetResult } from '../fleet/fleet.js';
import type { HtmlReportInput, ImageReport, KeptFile } from './html.js';

export function keptFiles(tree: FileTree, paths: Map<string, string[]>, replaced: Map<number, Buffer>): KeptFile[] {
  const seen = new Set<number>();
  return [...paths].sort(([a], [b]) => (a < b ? -1 : 1)).map(([path, reasons]) => {
    const entry = tree.get(path);
    const counted = entry?.type === 'file' && !seen.has(entry.inode);
    if (counted) seen.add(entry.inode);
    return { path: showPath(path), bytes: counted ? (replaced.get(entry.inode)?.length ?? entry.size) : 0, reasons };
  });
}

export function imageReport(result: BuildResult): ImageReport {
  return {
    image: result.image,
    slimTag: result.tag,
    original: result.original,
    slim: result.slim,
    kept: result.kept,
    verdicts: result.verification?.rows ?? [],
    packs: result.plan.packs,
  };
}

export const singleReport = (result: BuildResult): HtmlReportInput => ({ title: `slim: ${result.image}`, images: [imageReport(result)] });

export function fleetReport(fleet: FleetResult): HtmlReportInput {
  return {
    title: `slim: a fleet of ${fleet.images.length} images`,
    images: fleet.images.map((i) => (i.result
      ? imageReport(i.result)
      : { image: i.image, slimTag: '', original: { size: 0, files: 0 }, slim: { size: 0, files: 0 }, kept: [], verdicts: [], packs: [], error: i.error?.message ?? 'not built' })),
    fleet: fleet.bytes,
  };
}
