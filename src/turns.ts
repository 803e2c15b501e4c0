// Long loops on the main thread while the app is traced: its readiness polls and
// probes run on the same thread, and wait for every stall.

/** Milliseconds a loop runs between two turns of the event loop. */
const TURN_MS = 5;

/**
 * The event loop's turn for a long loop: `due()` is checked per item without awaiting (an
 * await per item costs more than the item), and the turn is taken when it says so.
 */
export function loopTurns(): { (): Promise<void>; due(): boolean } {
  let since = performance.now();
  const turn = async () => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    since = performance.now();
  };
  return Object.assign(turn, { due: () => performance.now() - since >= TURN_MS });
}
