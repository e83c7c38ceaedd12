'use client';

import { useState } from 'react';
import { toast } from 'sonner';
import { Button } from '@/components/ui/button';

/** Copies a value shown once (a token, a generated secret); says when the browser refused. */
export function CopyButton({
  value,
  onCopied,
  variant = 'outline',
}: {
  value: string;
  onCopied?: () => void;
  variant?: 'outline' | 'default';
}) {
  const [copied, setCopied] = useState(false);
  return (
    <Button
      size="sm"
      variant={variant}
      onClick={() =>
        navigator.clipboard.writeText(value).then(
          () => {
            setCopied(true);
            onCopied?.();
            toast.success('Copied');
          },
          () => toast.error('Could not copy: select the text and copy it by hand.'),
        )
      }
    >
      {copied ? 'Copied' : 'Copy'}
    </Button>
  );
}
