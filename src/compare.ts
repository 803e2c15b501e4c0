// Comparing probe results of the original and the slim image, side by side.
import { answered, probeIdentity, type ProbeResult } from './drivers/result.js';

/** `unanswered`: the original gave no answer, so there is nothing to compare against. */
export type Verdict = 'same' | 'different' | 'missing' | 'unanswered';

export interface ComparisonRow {
  name: string;
  original?: ProbeResult;
  slim?: ProbeResult;
  verdict: Verdict;
  why?: string;
}

export interface Comparison {
  rows: ComparisonRow[];
  /** Every probe answered the same by both, and there was at least one. */
  equivalent: boolean;
  same: number;
  total: number;
}

function verdictOf(a: ProbeResult, b: ProbeResult): { verdict: Verdict; why?: string } {
  if (!answered(a)) return { verdict: 'unanswered', why: `no answer from the original${a.error ? ` (${a.error})` : ''}` };
  if (a.status !== b.status) return { verdict: 'different', why: `${a.kind === 'http' ? 'status' : 'exit code'} ${a.status} vs ${b.status}${b.error ? ` (${b.error})` : ''}` };
  if (a.compare === 'status' || b.compare === 'status') return { verdict: 'same' };
  if ((a.contentType ?? '') !== (b.contentType ?? '')) return { verdict: 'different', why: `content type ${a.contentType} vs ${b.contentType}` };
  if (a.digest !== b.digest) return { verdict: 'different', why: `body differs (${a.size} vs ${b.size} bytes)` };
  return { verdict: 'same' };
}

/** Keys results by what the probe is (repeats numbered in order), never by display name. */
function keyed(results: ProbeResult[]): Map<string, ProbeResult> {
  const seen = new Map<string, number>();
  return new Map(results.map((r) => {
    const identity = probeIdentity(r);
    const n = (seen.get(identity) ?? 0) + 1;
    seen.set(identity, n);
    return [`${identity}#${n}`, r];
  }));
}

/** Matches probes by identity: each must give the same answer from both images. */
export function compareResults(original: ProbeResult[], slim: ProbeResult[]): Comparison {
  const bySlim = keyed(slim);
  const rows: ComparisonRow[] = [...keyed(original)].map(([key, o]) => {
    const s = bySlim.get(key);
    bySlim.delete(key);
    return s ? { name: o.name, original: o, slim: s, ...verdictOf(o, s) } : { name: o.name, original: o, verdict: 'missing', why: 'not sent to the slim image' };
  });
  for (const s of bySlim.values()) rows.push({ name: s.name, slim: s, verdict: 'missing', why: 'not sent to the original image' });
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const same = rows.filter((r) => r.verdict === 'same').length;
  return { rows, equivalent: rows.length > 0 && same === rows.length, same, total: rows.length };
}
