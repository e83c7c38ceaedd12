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

/** True when nothing listens on `port` on either loopback address (the server binds both). */
export async function loopbackPortFree(port: number): Promise<boolean> {
  for (const host of ['127.0.0.1', '::1']) {
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT'));
      server.listen({ port, host, exclusive: true }, () => resolve(true));
    });
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!bound) return false;
  }
  return true;
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
