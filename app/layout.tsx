import type { Metadata } from 'next';
import { TRAVERSAL_GATE_SCRIPT } from '@/components/common/traversal-gate';
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
        {/* Before the router's popstate listener: unsaved edits are asked about before Back or Forward renders another page. */}
        <script dangerouslySetInnerHTML={{ __html: TRAVERSAL_GATE_SCRIPT }} />
      </head>
      <body className="min-h-screen">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
