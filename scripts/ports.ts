import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports below the kernel's range for outgoing connections (ip_local_port_range): nothing but an
 * explicit listener takes them, so a server stopped and started again finds its port still free.
 */
function listenerPortRange(): [number, number] {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12_000) return [10_000, low - 1];
  } catch {
    // Not Linux: the usual range's lower bound.
  }
  return [20_000, 32_767];
}

/** The addresses `localhost` stands for here: PostgreSQL listens on each, and its URLs name `localhost`. */
export async function localhostAddresses(): Promise<string[]> {
  const found = await lookup('localhost', { all: true }).catch(() => []);
  return found.length > 0 ? [...new Set(found.map((a) => a.address))] : ['127.0.0.1'];
}

/**
 * The addresses among `hosts` (both loopback addresses by default) on which something already
 * listens on `port`; an address the machine does not have counts as free.
 */
export async function takenLoopbackAddresses(port: number, hosts: string[] = ['127.0.0.1', '::1']): Promise<string[]> {
  const taken: string[] = [];
  for (const host of hosts) {
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT'));
      server.listen({ port, host, exclusive: true }, () => resolve(true));
    });
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!bound) taken.push(host);
  }
  return taken;
}

/** True when nothing listens on `port` on either loopback address: a port free for any server a test or benchmark starts. */
export async function loopbackPortFree(port: number): Promise<boolean> {
  return (await takenLoopbackAddresses(port)).length === 0;
}

/**
 * A free port for a server a test or benchmark starts (PostgreSQL, the intake listener, `next start`),
 * chosen at random below the outgoing range. Another process can still take it before the server
 * binds it: callers that can tell a bind failure pick again.
 */
export async function freeListenerPort(): Promise<number> {
  const [low, high] = listenerPortRange();
  for (let i = 0; i < 50; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (await loopbackPortFree(port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${high} after 50 tries`);
}
