import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startTestServer } from '../../../test/fixtures/http-server';
import { InternalAddressRefused, isInternalAddress, isInternalHost, outsideOnlyDispatcher, type NetworkPolicy } from './internal-address';

describe('internal addresses', () => {
  it('knows loopback, private, link-local, CGNAT and unspecified addresses, in v4, v6 and v4-mapped v6', () => {
    for (const address of [
      '127.0.0.1',
      '127.255.0.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.10',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      '[::1]',
      'fd12:3456::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
    ])
      expect(isInternalAddress(address), address).toBe(true);
    for (const address of [
      '8.8.8.8',
      '172.32.0.1',
      '192.169.0.1',
      '100.128.0.1',
      '203.0.113.7',
      '2001:db8::1',
      '::ffff:8.8.8.8',
      'example.com',
    ])
      expect(isInternalAddress(address), address).toBe(false);
  });

  it('knows localhost by name and an IP literal by its address; a name that does not resolve is not internal', async () => {
    expect(await isInternalHost('localhost')).toBe(true);
    expect(await isInternalHost('api.localhost')).toBe(true);
    expect(await isInternalHost('LOCALHOST.')).toBe(true);
    expect(await isInternalHost('[::1]')).toBe(true);
    expect(await isInternalHost('169.254.169.254')).toBe(true);
    expect(await isInternalHost('8.8.8.8')).toBe(false);
    expect(await isInternalHost('no-such-host.invalid')).toBe(false);
  });
});

describe('connections that must stay outside', () => {
  it('connect to a name that resolves outside and refuse, when connecting, one that resolves inside', async () => {
    // 127.0.0.2 stands for the outside here; every other internal address is inside.
    const server = await startTestServer(undefined, { host: '127.0.0.2' });
    const port = new URL(server.url).port;
    const network: NetworkPolicy = {
      isInternalAddress: (address) => address !== '127.0.0.2' && isInternalAddress(address),
      resolve: async (hostname) =>
        ({
          'outside.test': [{ address: '127.0.0.2', family: 4 }],
          'inside.test': [{ address: '127.0.0.1', family: 4 }],
          'both.test': [
            { address: '127.0.0.2', family: 4 },
            { address: '10.0.0.8', family: 4 },
          ],
        })[hostname] ?? [],
    };
    const dispatcher = outsideOnlyDispatcher(network);
    expect(outsideOnlyDispatcher(network)).toBe(dispatcher);
    try {
      const ok = await request(`http://outside.test:${port}/`, { dispatcher });
      expect(ok.statusCode).toBe(200);
      expect(await ok.body.text()).toBe('ok');
      for (const [host, address] of [
        ['inside.test', '127.0.0.1'],
        ['both.test', '10.0.0.8'],
        ['localhost', 'localhost'],
        ['api.LOCALHOST.', 'localhost'],
      ]) {
        const refused = await request(`http://${host}:${port}/`, { dispatcher }).catch((e: unknown) => e);
        expect(refused, host).toBeInstanceOf(InternalAddressRefused);
        expect((refused as InternalAddressRefused).address, host).toBe(address);
      }
      expect(server.requests).toHaveLength(1);
      const unknown = await request(`http://nowhere.test:${port}/`, { dispatcher }).catch((e: unknown) => e);
      expect((unknown as NodeJS.ErrnoException).code).toBe('ENOTFOUND');
    } finally {
      await server.close();
    }
  });
});
