import { describe, expect, it } from 'vitest';
import { isInternalAddress, isInternalHost } from './internal-address';

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
