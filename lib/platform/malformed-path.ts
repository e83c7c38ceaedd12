/**
 * A request path with malformed percent-encoding ('%ZZ', a cut '%E0%A4') names nothing. The
 * console's proxy (proxy.ts) and the dedicated intake listener (intake/listener.ts) answer it with
 * the same 400 and this message, so a sender gets one answer whichever server carries /hooks/.
 */
export const MALFORMED_PATH_MESSAGE = "This address has malformed percent-encoding (such as '%ZZ'): encode '%' in a name as '%25'.";

export function isMalformedPath(pathname: string): boolean {
  try {
    decodeURIComponent(pathname);
    return false;
  } catch {
    return true;
  }
}
