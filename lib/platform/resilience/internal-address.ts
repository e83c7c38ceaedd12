import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses of the machine or network Junction runs in, which an external system must not steer
 * its requests to: loopback, unspecified, RFC 1918 private, carrier-grade NAT, link-local (the
 * cloud metadata endpoint 169.254.169.254 answers there with the machine's own credentials), and
 * their IPv6 counterparts (an IPv4-mapped IPv6 address is judged by its IPv4).
 */
const INTERNAL = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const)
  INTERNAL.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const)
  INTERNAL.addSubnet(network, prefix, 'ipv6');

/** Whether an IP address (v4 or v6, as text) is internal (see INTERNAL); false for anything that is not an IP address. */
export function isInternalAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '');
  const version = isIP(bare);
  if (version === 4) return INTERNAL.check(bare, 'ipv4');
  if (version !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return INTERNAL.check(mapped[1], 'ipv4');
  return INTERNAL.check(bare, 'ipv6');
}

/**
 * Whether a host name reaches an internal address: an IP literal by itself, `localhost` and its
 * subdomains by name, any other name when one of the addresses it resolves to is internal. A name
 * that does not resolve is not internal (the request then fails on its own, saying so).
 */
export async function isInternalHost(hostname: string): Promise<boolean> {
  const host = hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (isIP(host)) return isInternalAddress(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  try {
    const addresses = await lookup(host, { all: true, verbatim: true });
    return addresses.some((a) => isInternalAddress(a.address));
  } catch {
    return false;
  }
}
