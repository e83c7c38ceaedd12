/**
 * Where sign-in sends a user back to: a path of this site, or '/'. The value comes from the query
 * string, so it is already percent-decoded and may hold anything. Browsers drop tabs and newlines
 * from a Location header and read '\' as '/', so `/<TAB>/evil.example` would land on another host;
 * a control character or non-ASCII text in the header makes Next answer a 500. The path is therefore
 * parsed as a URL against a placeholder origin and written out again, percent-encoded.
 */

const PLACEHOLDER = 'http://callback.invalid';

/** Control characters, any whitespace (Unicode too) and the backslash: none belongs in a path we redirect to. */
function unsafe(value: string): boolean {
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || char === '\\' || /\s/.test(char)) return true;
  }
  return false;
}

export function safeCallbackPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || unsafe(value)) return '/';
  let url: URL;
  try {
    url = new URL(value, PLACEHOLDER);
  } catch {
    return '/';
  }
  if (url.origin !== PLACEHOLDER) return '/';
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments collapse while parsing: '/.//evil.example' becomes '//evil.example', another host.
  return path.startsWith('/') && !path.startsWith('//') ? path : '/';
}
