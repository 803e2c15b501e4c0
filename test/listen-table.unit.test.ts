// Which ports a container listens on, from the text of its /proc/net/tcp and tcp6.
import { describe, expect, it } from 'vitest';
import { listeningIn } from '../src/listen-table.js';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const row = (local: string, state: string, remote = '00000000:0000') => `   0: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0`;
const table = (...rows: string[]) => [HEADER, ...rows, ''].join('\n');

describe('listeningIn', () => {
  it('lists ports in LISTEN on any address and on the container\'s own, in IPv4 and IPv6 tables', () => {
    expect(listeningIn(table(row('00000000:1F90', '0A'), row('0200110A:18EB', '0A')), true)).toEqual(new Set([8080, 6379]));
    expect(listeningIn(table(row('00000000000000000000000000000000:1F40', '0A')), true)).toEqual(new Set([8000]));
  });

  it('leaves out listeners on loopback, which a published port cannot reach, in either byte order', () => {
    const loopbackV4 = table(row('0100007F:1F90', '0A'), row('0500007F:0050', '0A'));
    expect(listeningIn(loopbackV4, true)).toEqual(new Set());
    expect(listeningIn(table(row('7F000001:1F90', '0A')), false)).toEqual(new Set());
    // The same bytes in the other byte order are 1.0.0.127: a reachable address.
    expect(listeningIn(table(row('7F000001:1F90', '0A')), true)).toEqual(new Set([8080]));
    expect(listeningIn(table(row('00000000000000000000000001000000:1F90', '0A')), true)).toEqual(new Set());
    expect(listeningIn(table(row('0000000000000000FFFF00000100007F:1F90', '0A')), true)).toEqual(new Set());
    expect(listeningIn(table(row('0000000000000000FFFF00000200110A:1F90', '0A')), true)).toEqual(new Set([8080]));
  });

  it('ignores connections in other states, and lines that are not rows of the table', () => {
    const established = row('0200110A:1F90', '01', '0100110A:C350');
    const timeWait = row('0200110A:1F91', '06', '0100110A:C351');
    expect(listeningIn(table(established, timeWait), true)).toEqual(new Set());
    expect(listeningIn('', true)).toEqual(new Set());
    expect(listeningIn(HEADER, true)).toEqual(new Set());
    expect(listeningIn(table('garbage', '   1: 0000:1F90 00000000:0000 0A', '   2: 00000000:XYZW 00000000:0000 0A', row('00000000:1F90', '0a')), true)).toEqual(new Set());
  });
});
