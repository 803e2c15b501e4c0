// Comparing probe results of the original and the slim image, side by side.
import type { ProbeResult } from './drivers/http.js';

export type Verdict = 'same' | 'different' | 'missing';

export interface ComparisonRow {
  name: string;
  original?: ProbeResult;
  slim?: ProbeResult;
  verdict: Verdict;
  why?: string;
}

export interface Comparison {
  rows: ComparisonRow[];
  equivalent: boolean;
  same: number;
  total: number;
}

function verdictOf(a: ProbeResult, b: ProbeResult): { verdict: Verdict; why?: string } {
  if (a.status !== b.status) return { verdict: 'different', why: `${a.kind === 'http' ? 'status' : 'exit code'} ${a.status} vs ${b.status}${b.error ? ` (${b.error})` : ''}` };
  if (a.compare === 'status' || b.compare === 'status') return { verdict: 'same' };
  if ((a.contentType ?? '') !== (b.contentType ?? '')) return { verdict: 'different', why: `content type ${a.contentType} vs ${b.contentType}` };
  if (a.digest !== b.digest) return { verdict: 'different', why: `body differs (${a.size} vs ${b.size} bytes)` };
  return { verdict: 'same' };
}

/** Matches probes by name: each must give the same answer from both images. */
export function compareResults(original: ProbeResult[], slim: ProbeResult[]): Comparison {
  const bySlim = new Map(slim.map((r) => [r.name, r]));
  const rows: ComparisonRow[] = original.map((o) => {
    const s = bySlim.get(o.name);
    bySlim.delete(o.name);
    return s ? { name: o.name, original: o, slim: s, ...verdictOf(o, s) } : { name: o.name, original: o, verdict: 'missing', why: 'not sent to the slim image' };
  });
  for (const s of bySlim.values()) rows.push({ name: s.name, slim: s, verdict: 'missing', why: 'not sent to the original image' });
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const same = rows.filter((r) => r.verdict === 'same').length;
  return { rows, equivalent: same === rows.length, same, total: rows.length };
}
