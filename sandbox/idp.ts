import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * A local OpenID Connect identity provider for development and tests, on the `oidc-provider`
 * package: a real authorization-code flow with a sign-in page, so the console's SSO code path is
 * the one production uses with Okta, Entra ID, Google or Keycloak.
 */

export interface DemoUser {
  username: string;
  name: string;
  email: string;
  groups: string[];
  /** The role the default OIDC_ROLE_MAP gives this user, for the sign-in page and the README. */
  role: 'admin' | 'operator' | 'viewer';
}

export const DEMO_PASSWORD = 'junction';

export const DEMO_USERS: readonly DemoUser[] = [
  { username: 'ada', name: 'Ada Admin', email: 'ada.admin@junction.local', groups: ['junction-admins'], role: 'admin' },
  { username: 'oscar', name: 'Oscar Operator', email: 'oscar.operator@junction.local', groups: ['junction-operators'], role: 'operator' },
  { username: 'vera', name: 'Vera Viewer', email: 'vera.viewer@junction.local', groups: [], role: 'viewer' },
];

export const LOCAL_CLIENT = { clientId: 'junction-console', clientSecret: 'junction-console-dev-secret' };

export interface IdentityProviderOptions {
  port: number;
  /** Where the console runs: its Auth.js callback is the only allowed redirect. */
  appUrl: string;
  host?: string;
}

export interface IdentityProvider {
  issuer: string;
  close(): Promise<void>;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f4f5;margin:0;display:grid;place-items:center;min-height:100vh;color:#18181b}
main{background:#fff;border:1px solid #e4e4e7;border-radius:12px;padding:28px;width:min(380px,92vw);box-shadow:0 1px 3px #0001}
h1{font-size:20px;margin:0 0 4px}p{color:#52525b;font-size:14px}label{display:block;font-size:14px;margin:12px 0 4px;font-weight:500}
input{width:100%;box-sizing:border-box;padding:8px 10px;border:1px solid #d4d4d8;border-radius:8px;font-size:14px}
button{margin-top:16px;width:100%;padding:9px;border:0;border-radius:8px;background:#18181b;color:#fff;font-size:14px;cursor:pointer}
.err{color:#b91c1c;font-size:14px}table{font-size:13px;border-collapse:collapse;width:100%;margin-top:16px}td{padding:3px 4px;border-top:1px solid #f4f4f5}
</style></head><body><main>${body}</main></body></html>`;
}

function loginPage(uid: string, error?: string, username = ''): string {
  const rows = DEMO_USERS.map((u) => `<tr><td><code>${u.username}</code></td><td>${escapeHtml(u.name)}</td><td>${u.role}</td></tr>`).join(
    '',
  );
  return page(
    'Sign in — Junction local identity provider',
    `<h1>Junction local SSO</h1><p>Development identity provider. Demo password: <code>${DEMO_PASSWORD}</code></p>
${error ? `<p class="err" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="${escapeHtml(username)}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form>
<table aria-label="Demo users"><tbody>${rows}</tbody></table>`,
  );
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 10_000) throw new Error('form too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function buildProvider(issuer: string, appUrl: string): Provider {
  const configuration: Configuration = {
    clients: [
      {
        client_id: LOCAL_CLIENT.clientId,
        client_secret: LOCAL_CLIENT.clientSecret,
        redirect_uris: [`${appUrl}/api/auth/callback/oidc`],
        post_logout_redirect_uris: [`${appUrl}/`, `${appUrl}/signin`],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    async findAccount(_ctx, id) {
      const user = DEMO_USERS.find((u) => u.username === id);
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, name: user.name, email: user.email, email_verified: true, groups: user.groups };
        },
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    // Without this, email and name stay out of the ID token and Auth.js sees an empty user.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      // RP-initiated logout (end_session_endpoint): the console's Sign out ends this session too.
      // With the console's id_token_hint the logout goes through at once, as Okta, Entra ID and
      // Keycloak do for a known client; without it the person is asked first.
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          const hinted = Boolean(ctx.oidc.params?.id_token_hint);
          const confirmed = form.replace('</form>', '<input type="hidden" name="logout" value="yes"></form>');
          ctx.type = 'html';
          ctx.body = page(
            'Signing out — Junction local identity provider',
            hinted
              ? `<h1>Signing out…</h1>${confirmed}<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript><script>document.getElementById('op.logoutForm').submit()</script>`
              : `<h1>Sign out of Junction local SSO?</h1>${confirmed}<button type="submit" form="op.logoutForm">Sign out</button>`,
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page(
            'Signed out',
            `<h1>Signed out</h1><p>You are signed out of the local identity provider.</p><p><a href="${escapeHtml(appUrl)}/signin">Back to Junction</a></p>`,
          );
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['junction-local-idp-cookie-key-not-secret'] },
    pkce: { required: () => false },
    ttl: { AccessToken: 3600, IdToken: 3600, Session: 86_400, Interaction: 3600, Grant: 86_400 },
    // The local IdP trusts its one client: grant the requested scopes without a consent screen.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const session = ctx.oidc.session!;
      const client = ctx.oidc.client!;
      const existing = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (existing) {
        const found = await ctx.oidc.provider.Grant.find(existing);
        if (found) return found;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId! });
      grant.addOIDCScope('openid email profile groups');
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
      await grant.save();
      return grant;
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'Sign-in error',
        `<h1>Sign-in error</h1><p class="err">${escapeHtml(String(out.error))}: ${escapeHtml(String(out.error_description ?? ''))}</p><p><a href="${appUrl}/signin">Back to Junction</a></p>`,
      );
    },
  };
  return new Provider(issuer, configuration);
}

export async function startIdentityProvider(options: IdentityProviderOptions): Promise<IdentityProvider> {
  const issuer = `http://localhost:${options.port}`;
  const provider = buildProvider(issuer, options.appUrl);
  const callback = provider.callback();

  async function interactions(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(url.pathname);
    if (!match) return false;
    const send = (status: number, html: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    };
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== match[1]) {
        send(400, page('Sign-in error', '<p class="err">This sign-in link has expired. Start again from the console.</p>'));
        return true;
      }
      if (!match[2]) {
        send(200, loginPage(details.uid));
        return true;
      }
      if (req.method !== 'POST') {
        send(405, page('Sign-in error', '<p class="err">Use the sign-in form.</p>'));
        return true;
      }
      const form = await readForm(req);
      const username = (form.get('username') ?? '').trim().toLowerCase();
      const user = DEMO_USERS.find((u) => u.username === username || u.email === username);
      if (!user || form.get('password') !== DEMO_PASSWORD) {
        send(401, loginPage(details.uid, 'Unknown user or wrong password.', username));
        return true;
      }
      await provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
    } catch (error) {
      send(
        400,
        page(
          'Sign-in error',
          `<p class="err">${escapeHtml((error as Error).message)}</p><p><a href="${options.appUrl}/signin">Back to Junction</a></p>`,
        ),
      );
    }
    return true;
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    interactions(req, res, url)
      .then((handled) => {
        if (!handled) callback(req, res);
      })
      .catch(() => {
        res.statusCode = 500;
        res.end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    issuer: port === options.port ? issuer : `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
