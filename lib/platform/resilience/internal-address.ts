import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, type Dispatcher } from 'undici';

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

/** Resolves a host name to its addresses (every one, in the resolver's order). */
export type Resolve = (hostname: string) => Promise<{ address: string; family: number }[]>;

/**
 * How the HTTP client tells Junction's own network from the outside: a resolver and a test of an
 * address. The default resolves as every connection does (the system's resolver, hosts file
 * included) and judges by INTERNAL; tests put a loopback server outside and resolve names of their own.
 */
export interface NetworkPolicy {
  resolve: Resolve;
  isInternalAddress(address: string): boolean;
}

export const defaultNetwork: NetworkPolicy = {
  resolve: (hostname) => lookup(hostname, { all: true, verbatim: true }),
  isInternalAddress,
};

function bareHost(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/**
 * Whether a host name reaches an internal address: an IP literal by itself, `localhost` and its
 * subdomains by name, any other name when one of the addresses it resolves to is internal. A name
 * that does not resolve is not internal (the request then fails on its own, saying so).
 */
export async function isInternalHost(hostname: string, network: NetworkPolicy = defaultNetwork): Promise<boolean> {
  const host = bareHost(hostname);
  if (isIP(host)) return network.isInternalAddress(host);
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  try {
    const addresses = await network.resolve(host);
    return addresses.some((a) => network.isInternalAddress(a.address));
  } catch {
    return false;
  }
}

/** A connection `outsideOnlyDispatcher` refused (fetch's `cause`): its host name resolved to `address`, inside. */
export class InternalAddressRefused extends Error {
  readonly code = 'E_JUNCTION_INTERNAL_ADDRESS';
  constructor(
    readonly hostname: string,
    readonly address: string,
  ) {
    super(`${hostname} resolved to ${address}, an address inside Junction's own network: not connected`);
  }
}

/**
 * The name lookup of a connection that must not reach Junction's own network: the addresses are
 * judged when the socket is about to connect to them, not before (a name whose DNS answers an
 * outside address to a check and a loopback one a moment later, DNS rebinding, passes any check
 * made ahead of the connection). One internal address refuses the name, as isInternalHost does.
 */
function outsideOnlyLookup(network: NetworkPolicy): LookupFunction {
  return (hostname, options, callback) => {
    const host = bareHost(hostname);
    const refused = (address: string) => new InternalAddressRefused(hostname, address);
    const answer =
      host === 'localhost' || host.endsWith('.localhost')
        ? Promise.reject(refused('localhost'))
        : network.resolve(host).then((found) => {
            const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
            const internal = found.find((a) => network.isInternalAddress(a.address));
            if (internal) throw refused(internal.address);
            if (wanted.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
            return wanted;
          });
    answer.then(
      (addresses) => {
        if (options.all) (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

const outsideOnlyAgents = new WeakMap<NetworkPolicy, Dispatcher>();

/**
 * A connection pool for requests that must stay outside Junction's own network: every connection
 * it opens looks its host name up through `outsideOnlyLookup` (an IP literal is not looked up:
 * judge it before, with isInternalHost). One per policy, shared by every client using it.
 */
export function outsideOnlyDispatcher(network: NetworkPolicy = defaultNetwork): Dispatcher {
  let agent = outsideOnlyAgents.get(network);
  if (!agent) {
    agent = new Agent({ connect: { lookup: outsideOnlyLookup(network) } });
    outsideOnlyAgents.set(network, agent);
  }
  return agent;
}
