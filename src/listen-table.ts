// The TCP ports a container listens on, read from its network namespace through
// /proc on the engine's host. A readiness wait needs it because the published
// port says nothing: docker-proxy accepts a connection whether or not the app
// listens inside, and holds one made before the app does.
import { endianness } from 'node:os';
import { readFile, readlink, stat } from 'node:fs/promises';

/** LISTEN in the st column of /proc/net/tcp and tcp6. */
const LISTEN = '0A';

/**
 * An address of /proc/net/tcp{,6} as bytes: 8 or 32 hex digits, each 32-bit word
 * printed as the kernel holds it in memory (in host order).
 */
function addressBytes(hex: string, littleEndian: boolean): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const inWord = [0, 2, 4, 6].map((at) => parseInt(hex.slice(word + at, word + at + 2), 16));
    bytes.push(...(littleEndian ? inWord.reverse() : inWord));
  }
  return bytes;
}

/** 127.0.0.0/8, ::1 and ::ffff:127.x: a listener there is not reachable through a published port. */
function isLoopback(bytes: number[]): boolean {
  if (bytes.length === 4) return bytes[0] === 127;
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  if (zeros(0, 15) && bytes[15] === 1) return true;
  return zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff && bytes[12] === 127;
}

/** The ports with a listener on a reachable address, in the text of /proc/net/tcp or tcp6. */
export function listeningIn(table: string, littleEndian = endianness() === 'LE'): Set<number> {
  const ports = new Set<number>();
  for (const line of table.split('\n').slice(1)) {
    const [, local, , state] = line.trim().split(/\s+/);
    const match = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(local ?? '');
    if (!match || state !== LISTEN || isLoopback(addressBytes(match[1]!, littleEndian))) continue;
    ports.add(parseInt(match[2]!, 16));
  }
  return ports;
}

export type ListenTable = () => Promise<Set<number>>;

/**
 * A reader of the listening ports of the container whose first process is `pid` and whose
 * network namespace the engine keeps at `sandboxKey`; undefined when this process does not see
 * that namespace (slim in another container, a remote engine, no root). The namespace of the
 * pid must be the very one the engine names, or the pid is some other process's.
 */
export async function listenTableOf(pid: number, sandboxKey: string): Promise<ListenTable | undefined> {
  if (!pid || !sandboxKey) return undefined;
  const proc = `/proc/${pid}`;
  try {
    const [link, namespace] = await Promise.all([readlink(`${proc}/ns/net`), stat(sandboxKey)]);
    if (link !== `net:[${namespace.ino}]`) return undefined;
  } catch {
    return undefined;
  }
  // A table that cannot be read lists nothing: no IPv6, or the process is gone (the wait sees it exit).
  return async () => {
    const tables = await Promise.all(['tcp', 'tcp6'].map((name) => readFile(`${proc}/net/${name}`, 'latin1').catch(() => '')));
    return new Set(tables.flatMap((t) => [...listeningIn(t)]));
  };
}
