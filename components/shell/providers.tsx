'use client';

import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Toaster } from 'sonner';

export function Providers({ children }: { children: React.ReactNode }) {
  const [client] = useState(
    () => new QueryClient({ defaultOptions: { queries: { staleTime: 5_000, refetchOnWindowFocus: true, retry: 1 } } }),
  );
  // Marks the page as hydrated at its root (tests wait on it; early-clicks.ts waits per element).
  useEffect(() => {
    document.documentElement.dataset.hydrated = 'true';
  }, []);
  return (
    <QueryClientProvider client={client}>
      {children}
      {/* Bottom right: a toast never covers the header (Sign out); 10 s leaves time to follow its link. */}
      <Toaster richColors position="bottom-right" closeButton duration={10_000} />
    </QueryClientProvider>
  );
}
