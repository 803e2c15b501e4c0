// fanotify: slim-probe marks the root mount and records every open, exec and
// close-after-write in the container, whoever makes it (command probes too).
import { SlimError } from '../errors.js';
import { addOp, emptyTrace, type Op, type Trace } from '../trace/trace.js';
import { launchApp, OUT_DIR, STARTED_MARK, type Tracer } from './tracer.js';

const RECORD = 'trace.rec';
const OPS: Record<string, Op> = { O: 'open', X: 'exec', W: 'write' };

/** Parses the record slim-probe writes ("slim-trace 1 fanotify", then "KIND PATH" lines). */
export function parseFanotifyRecord(text: Buffer, where: string): Trace {
  const lines = text.toString('latin1').split('\n');
  if (!/^slim-trace 1 fanotify$/.test(lines[0] ?? '')) {
    throw new SlimError(`${where}: not a slim fanotify record (first line '${(lines[0] ?? '').slice(0, 40)}')`);
  }
  const trace = emptyTrace('fanotify');
  for (const [index, line] of lines.slice(1).entries()) {
    if (line === '') continue;
    if (line === '! overflow') {
      trace.overflow = true;
      continue;
    }
    const exit = /^# exit (\d+)$/.exec(line);
    if (exit) {
      trace.exitCode = Number(exit[1]);
      continue;
    }
    const op = OPS[line[0]!];
    if (!op || line[1] !== ' ' || line[2] !== '/') throw new SlimError(`${where}: line ${index + 2}: malformed record '${line.slice(0, 60)}'`);
    addOp(trace, line.slice(2).replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), op);
  }
  return trace;
}

export const fanotify: Tracer = {
  capability: 'SYS_ADMIN',
  seesMissing: false,
  entrypoint: (command, app) => [...launchApp(app, 'SYS_ADMIN', ['--fanotify', `${OUT_DIR}/${RECORD}`, '--started', STARTED_MARK]), ...command],
  // The mount mark already sees what a command does; slim-probe only takes the capability away.
  execCommand: (command, app) => [...launchApp(app, 'SYS_ADMIN', ['--exec']), ...command],
  parse(files, where) {
    const data = files.get(RECORD);
    if (!data) throw new SlimError(`collecting the trace: ${RECORD} is missing from ${where}`);
    return parseFanotifyRecord(data, `trace record of ${where}`);
  },
  refusedHint: 'the engine must allow CAP_SYS_ADMIN for fanotify; use --tracer strace (or auto) on rootless engines',
};
