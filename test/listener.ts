// A tiny TCP server image for run tests: it logs how many bytes each
// connection sent (and what), so a test can see whether anyone spoke HTTP to it.
import { execFileSync } from 'node:child_process';

const PROGRAM = [
  '$| = 1;',
  'my $s = IO::Socket::INET->new(LocalPort => 7000, Listen => 5, ReuseAddr => 1) or die "listen: $!";',
  'print "listening\\n";',
  'while (my $c = $s->accept) { my $n = sysread($c, my $buf, 4096) // 0; print "received $n bytes", ($n ? ": $buf" : ""), "\\n"; close $c; }',
].join(' ');

export const LISTENER_PORT = 7000;

/** Builds the listener (perl from the Debian base, running as root) as `tag`. */
export function buildListener(tag: string): void {
  const dockerfile = `FROM slim-samples/debian:bookworm\nEXPOSE ${LISTENER_PORT}\nCMD ${JSON.stringify(['perl', '-MIO::Socket::INET', '-e', PROGRAM])}\n`;
  execFileSync('docker', ['build', '-q', '-t', tag, '-'], { input: dockerfile, stdio: ['pipe', 'ignore', 'inherit'] });
}
