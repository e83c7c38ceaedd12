import { describe, expect, it } from 'vitest';
import { remoteOf } from './http';

describe('remoteOf', () => {
  const forged = { 'x-forwarded-for': '203.0.113.66, 10.0.0.1' };

  it('ignores X-Forwarded-For when no proxy is trusted: anyone can send it', () => {
    expect(remoteOf(forged, { peer: '198.51.100.7', trustProxy: false })).toBe('198.51.100.7');
    expect(remoteOf(forged, { trustProxy: false })).toBeNull();
  });

  it('takes the first hop of X-Forwarded-For behind a trusted proxy, else the peer', () => {
    expect(remoteOf(forged, { peer: '10.0.0.1', trustProxy: true })).toBe('203.0.113.66');
    expect(remoteOf({}, { peer: '10.0.0.1', trustProxy: true })).toBe('10.0.0.1');
    expect(remoteOf({ 'x-forwarded-for': ' ' }, { peer: null, trustProxy: true })).toBeNull();
  });
});
