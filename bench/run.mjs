// npm run bench: the three benchmarks, one after the other (or name some: throughput phases overhead).
import { phases } from './phases.mjs';
import { probeOverhead } from './probe-overhead.mjs';
import { throughput } from './throughput.mjs';

const all = { throughput, phases, overhead: probeOverhead };
const chosen = process.argv.slice(2);
for (const [name, run] of Object.entries(all)) {
  if (chosen.length && !chosen.includes(name)) continue;
  await run();
  console.log();
}
