import type { Metadata } from 'next';
import { EARLY_CLICKS_SCRIPT } from '@/components/shell/early-clicks';
import { Providers } from '@/components/shell/providers';
import './globals.css';

export const metadata: Metadata = {
  title: { default: 'Junction', template: '%s · Junction' },
  description: 'Run every integration on one shared layer: retries, breakers, alerts, audit.',
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <head>
        {/* Inline and first: it must run before any bundle, to hold clicks that land before them. */}
        <script dangerouslySetInnerHTML={{ __html: EARLY_CLICKS_SCRIPT }} />
      </head>
      <body className="min-h-screen">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
