// The tracer table: adding a tracer is one entry here plus its own file.
// The first entry is the preferred one: --tracer auto tries them in order and
// moves on when the engine refuses one's capability.
import { fanotify } from './fanotify.js';
import { strace } from './strace.js';
import type { Tracer } from './tracer.js';

export const TRACERS = { fanotify, strace } satisfies Record<string, Tracer>;

export type TracerName = keyof typeof TRACERS;
export const TRACER_NAMES = Object.keys(TRACERS) as TracerName[];

export const isTracerName = (name: string): name is TracerName => Object.hasOwn(TRACERS, name);
