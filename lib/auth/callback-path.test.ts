import { describe, expect, it } from 'vitest';
import { safeCallbackPath } from './callback-path';

/** How a browser resolves the Location header we would send: the host it ends up on. */
function landsOn(location: string): string {
  // The WHATWG URL parser is what browsers use: it drops tabs and newlines and reads '\' as '/'.
  return new URL(location, 'https://junction.example/signin').host;
}

describe('safeCallbackPath', () => {
  it.each([
    '/',
    '/runs',
    '/runs?status=failed&limit=10',
    '/integrations/crm-sync/history?field=a#top',
    '/%2F%2Fevil.example',
    '/%09/evil.example',
  ])('keeps a path of this site as it is: %s', (path) => {
    expect(safeCallbackPath(path)).toBe(path);
  });

  it.each([
    ['tab', '/\t/evil.example/phish'],
    ['leading tab', '\t//evil.example'],
    ['newline', '/\n/evil.example'],
    ['carriage return', '/\r/evil.example'],
    ['CRLF header injection', '/x\r\nSet-Cookie: a=b'],
    ['NUL', '/\u0000/evil.example'],
    ['DEL', '/\u007f/evil.example'],
    ['C1 control', '/\u0085/evil.example'],
    ['space', '/ /evil.example'],
    ['no-break space', '/\u00a0/evil.example'],
    ['ideographic space', '/\u3000/evil.example'],
    ['line separator', '/\u2028/evil.example'],
    ['protocol-relative', '//evil.example'],
    ['backslash', '/\\evil.example'],
    ['two backslashes', '/\\\\evil.example'],
    ['backslash then slash', '\\/evil.example'],
    ['slash then backslash', '/\\/evil.example'],
    ['dot segment collapsing to //', '/.//evil.example'],
    ['dot-dot segment collapsing to //', '/x/..//evil.example'],
    ['encoded dot segment collapsing to //', '/%2e//evil.example'],
    ['absolute http URL', 'http://evil.example/'],
    ['absolute https URL', 'https://evil.example/'],
    ['scheme-relative with credentials', '//user@evil.example'],
    ['javascript: URL', 'javascript:alert(1)'],
    ['data: URL', 'data:text/html,<script>alert(1)</script>'],
    ['relative path', 'runs'],
    ['empty', ''],
  ])('refuses %s with "/"', (_name, value) => {
    expect(safeCallbackPath(value)).toBe('/');
  });

  it.each([undefined, null, 42, ['/runs', '/audit'], {}])('refuses a value that is not one string (%j) with "/"', (value) => {
    expect(safeCallbackPath(value)).toBe('/');
  });

  it('percent-encodes text a header cannot carry instead of failing', () => {
    expect(safeCallbackPath('/\u3002x')).toBe('/%E3%80%82x');
    expect(safeCallbackPath('/runs?q=café')).toBe('/runs?q=caf%C3%A9');
  });

  it('never answers a Location that a browser would resolve to another host', () => {
    const hostile = [
      '/\t/evil.example',
      '/\n/evil.example',
      '/\\evil.example',
      '/.//evil.example',
      '/%2F%2Fevil.example',
      '/%5Cevil.example',
      '/%09/evil.example',
      '/%0a/evil.example',
      '/\u3002/evil.example',
      '/\uff0f/evil.example',
      '/%E3%80%82evil.example',
      'https:evil.example',
      'http:/evil.example',
      '/@evil.example',
    ];
    for (const value of hostile) {
      const location = safeCallbackPath(value);
      expect(location, value).toMatch(/^\/(?![/\\])/);
      expect(location, `${value}: printable ASCII only`).toMatch(/^[!-~]+$/);
      expect(landsOn(location), value).toBe('junction.example');
    }
  });
});
