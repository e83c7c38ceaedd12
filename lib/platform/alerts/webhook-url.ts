/**
 * A webhook channel's URL as the console shows it to everyone: where alerts go, without what lets
 * someone else post there. Many receivers take their credential in the URL (Slack-style
 * `/services/T…/B…/<token>`, Discord `/api/webhooks/<id>/<token>`, Mattermost `/hooks/<id>`,
 * `?token=`, `?key=`, `?sig=`, Azure's `?code=`), and the channel list is read by every role, so the
 * rule keeps only what is plainly not a secret and masks the rest (fail-closed):
 *
 * - scheme, host and port are kept: they say where alerts go, and a host name is no credential;
 * - a user name or password is `***@` (refused since, see channel-input.ts; older rows may hold one);
 * - the path is kept segment by segment while each is a plain word: lowercase letters in parts of at
 *   most 16 joined by `-`, `_` or `.`, without four consonants in a row (a random run of letters
 *   has one, a word seldom does), at most 40 characters; or a version such as `v1`. The first
 *   segment that is anything else (digits, capitals, ids, tokens) and every one after it become one
 *   `…`: what follows a token is as likely secret, and its shape would tell a reader nothing. The
 *   first segment is tested too (`ntfy.sh/<topic>`, `hooks.zapier.com/<id>`);
 * - every query value is `***`, and a name is kept only when it has a value and is letters with
 *   `-`, `_` or `.` (no digits: a bare `?<token>` is masked whole);
 * - a fragment is `#***`.
 *
 * So `https://hooks.example.com/services/T000/B000/XXXX` shows as
 * `https://hooks.example.com/services/…` and `https://ops.example.com/alerts?token=abc` as
 * `https://ops.example.com/alerts?token=***`. A secret written as plain words (an ntfy topic named
 * `junction-alerts`) cannot be told from a path: such a receiver should take its secret in the
 * query or check the HMAC signature (hmacSecret). Admins get the URL whole, in the edit form only
 * (webhookUrlsForEditing in channels.ts); delivery uses the stored URL.
 */

/** A path segment kept as it is. */
function isPlainWord(text: string): boolean {
  if (/^v\d{1,3}$/.test(text)) return true;
  if (text.length > 40) return false;
  return text.split(/[-_.]/).every((part) => /^[a-z]{1,16}$/.test(part) && !/[bcdfghjklmnpqrstvwxz]{4}/.test(part));
}

/** A query parameter's name kept as it is (its value never is). */
function isPlainName(text: string): boolean {
  return /^[A-Za-z][A-Za-z_.-]{0,39}$/.test(text);
}

function decoded(text: string, plus = false): string | null {
  try {
    return decodeURIComponent(plus ? text.replace(/\+/g, ' ') : text);
  } catch {
    return null;
  }
}

interface MaskedUrl {
  /** The URL as shown. */
  shown: string;
  /** What was masked, raw and decoded: to scrub from what a receiver answers. */
  secrets: string[];
}

function maskUrl(url: string): MaskedUrl {
  if (!URL.canParse(url)) return { shown: '***', secrets: [url] };
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { shown: '***', secrets: [url] };
  const secrets: string[] = [];
  const hidden = (...values: (string | null)[]) => secrets.push(...values.filter((v): v is string => Boolean(v)));

  let userinfo = '';
  if (u.username || u.password) {
    userinfo = '***@';
    hidden(u.username, decoded(u.username), u.password, decoded(u.password));
  }

  // pathname starts with '/' for http(s): the first piece is the empty string before it.
  const segments = u.pathname.split('/').slice(1);
  const cut = segments.findIndex((segment) => {
    if (segment === '') return false;
    const text = decoded(segment);
    return text === null || !isPlainWord(text);
  });
  let path = `/${segments.join('/')}`;
  if (cut >= 0) {
    const kept = segments.slice(0, cut);
    const rest = segments.slice(cut);
    path = `/${kept.map((s) => `${s}/`).join('')}…`;
    // Each segment that is no plain word on its own too (not `enqueue` after a token: scrubbing
    // that from a receiver's answer would hide words, not secrets).
    const tokens = rest.filter((s) => s !== '' && !isPlainWord(decoded(s) ?? ''));
    hidden(rest.join('/'), decoded(rest.join('/')), ...tokens.flatMap((s) => [s, decoded(s)]));
  }

  let query = '';
  if (u.search.length > 1) {
    const pairs = u.search.slice(1).split('&');
    query = `?${pairs
      .map((pair) => {
        const at = pair.indexOf('=');
        if (at < 0) {
          hidden(pair, decoded(pair, true));
          return pair === '' ? '' : '***';
        }
        const name = pair.slice(0, at);
        const value = pair.slice(at + 1);
        const plainName = decoded(name, true);
        const shownName = plainName !== null && isPlainName(plainName) ? name : '***';
        if (shownName === '***') hidden(name, plainName);
        hidden(value, decoded(value, true));
        return `${shownName}=${value === '' ? '' : '***'}`;
      })
      .join('&')}`;
  }

  let fragment = '';
  if (u.hash.length > 1) {
    fragment = '#***';
    hidden(u.hash.slice(1), decoded(u.hash.slice(1)));
  }

  return { shown: `${u.protocol}//${userinfo}${u.host}${path}${query}${fragment}`, secrets: [...new Set(secrets)] };
}

/** The URL as any signed-in person may see it (the rule above). */
export function maskedWebhookUrl(url: string): string {
  return maskUrl(url).shown;
}

/** The parts maskedWebhookUrl hides, to scrub from a delivery's error: a receiver may quote the path it was called on. */
export function webhookUrlSecrets(url: string): string[] {
  return maskUrl(url).secrets;
}

// A URL runs to whitespace, a double quote (findings quote values as JSON), <, > or a backtick:
// commas, apostrophes and brackets are valid in a URL and may come before its token, so they are
// masked with it (a sentence's trailing punctuation with them: masking too much is the safe side).
// The scheme in any case: HTTP://… is the same URL.
const URL_IN_TEXT = /https?:\/\/[^\s"<>`]+/gi;

/**
 * Every http(s) URL in a text masked as maskedWebhookUrl does: for what a channel URL reaches
 * besides the channel list (the audit trail's `channel.<name>.url` rows, a configuration-check
 * finding quoting one), shown to people who may not see the URL whole.
 */
export function maskUrlsInText(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => maskedWebhookUrl(url));
}

/** An audit value (string, or JSON holding strings) with every URL in it masked: see maskUrlsInText. */
export function maskUrlsInValue(value: unknown): unknown {
  // A value that is a URL whole (a channel's url row) is masked whole, whatever it holds.
  if (typeof value === 'string' && /^https?:\/\//i.test(value.trim())) return maskedWebhookUrl(value.trim());
  if (typeof value === 'string') return maskUrlsInText(value);
  if (Array.isArray(value)) return value.map(maskUrlsInValue);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskUrlsInValue(v)]));
  return value;
}
