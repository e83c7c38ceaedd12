'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { addWebhookSecretAction } from '@/app/(console)/integrations/[name]/events/actions';
import { CopyButton } from '@/components/common/copy-button';
import { FieldError } from '@/components/common/field-error';
import { UnsavedChangesGuard } from '@/components/common/unsaved-changes';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';

/**
 * Adds a signing secret to an endpoint (admin). Left empty, the value is generated on the server
 * and shown here once, to copy to the sender; it is never shown again.
 */
export function AddWebhookSecret({ integration, activeSecrets }: { integration: string; activeSecrets: number }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [label, setLabel] = useState('');
  const [value, setValue] = useState('');
  const [generated, setGenerated] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // Each field's own refusal under it (a long label was shown under Value, outlined red).
  const [fieldErrors, setFieldErrors] = useState<{ label?: string; value?: string }>({});
  const [pending, start] = useTransition();
  const reset = () => {
    setLabel('');
    setValue('');
    setGenerated(null);
    setCopied(false);
    setError(null);
    setFieldErrors({});
  };
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    start(async () => {
      const result = await addWebhookSecretAction({ integration, label, ...(value ? { value } : {}) });
      if (!result.ok) {
        const { label: labelError, value: valueError } = result.fieldErrors ?? {};
        setFieldErrors({ label: labelError, value: valueError });
        setError(labelError || valueError ? null : result.error);
        return;
      }
      setFieldErrors({});
      setError(null);
      setValue('');
      toast.success(
        activeSecrets > 0
          ? `Signing secret "${label}" added: the ${activeSecrets === 1 ? 'other active secret is' : `other ${activeSecrets} active secrets are`} accepted too until you revoke ${activeSecrets === 1 ? 'it' : 'them'}`
          : `Signing secret "${label}" added: deliveries signed with it are accepted from now on`,
      );
      router.refresh();
      if (result.data.generated) setGenerated(result.data.generated);
      else {
        setOpen(false);
        reset();
      }
    });
  };
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (!o) reset();
      }}
    >
      <DialogTrigger asChild>
        <Button size="sm" variant="outline">
          Add signing secret
        </Button>
      </DialogTrigger>
      <DialogContent>
        {/* A typed secret is lost on leaving; a generated one is worse: it is never shown again. */}
        <UnsavedChangesGuard
          dirty={open && (generated !== null || label !== '' || value !== '')}
          what={`the new signing secret of ${integration}`}
          title={generated ? 'Leave without copying the secret?' : undefined}
          message={
            generated
              ? 'The generated secret is shown only this once. Copy it to the sender before you leave; otherwise revoke it and add another.'
              : undefined
          }
        />
        {generated ? (
          <div className="flex flex-col gap-4">
            <DialogHeader>
              <DialogTitle>Copy the new secret now</DialogTitle>
              <DialogDescription>Give it to the sender. It is stored encrypted and will not be shown again.</DialogDescription>
            </DialogHeader>
            <code className="break-all rounded border bg-muted p-2 text-sm" data-testid="generated-secret">
              {generated}
            </code>
            <DialogFooter>
              <CopyButton value={generated} variant="default" onCopied={() => setCopied(true)} />
              {/* Until it is copied, closing says what it costs. */}
              <Button
                variant="outline"
                onClick={() => {
                  setOpen(false);
                  reset();
                }}
              >
                {copied ? 'Done' : 'Close without copying'}
              </Button>
            </DialogFooter>
          </div>
        ) : (
          <form onSubmit={submit} data-needs-js className="flex flex-col gap-4">
            <DialogHeader>
              <DialogTitle>Add a signing secret</DialogTitle>
              <DialogDescription>
                Rotation: add the new secret, move the sender to it, then revoke the old one. Every active secret is accepted meanwhile.
              </DialogDescription>
            </DialogHeader>
            <div className="grid gap-1.5">
              <Label htmlFor="secret-label">Label</Label>
              <Input
                id="secret-label"
                value={label}
                maxLength={100}
                onChange={(e) => setLabel(e.target.value)}
                placeholder="provider, 2026-12"
                aria-invalid={fieldErrors.label ? true : undefined}
                aria-describedby={fieldErrors.label ? 'secret-label-error' : undefined}
              />
              <FieldError id="secret-label-error" message={fieldErrors.label} />
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="secret-value">Value (leave empty to generate one)</Label>
              <Input
                id="secret-value"
                type="password"
                autoComplete="new-password"
                value={value}
                onChange={(e) => setValue(e.target.value)}
                aria-invalid={fieldErrors.value ? true : undefined}
                aria-describedby={fieldErrors.value ? 'secret-value-error' : undefined}
              />
              <FieldError id="secret-value-error" message={fieldErrors.value} />
            </div>
            {error ? (
              <p id="secret-error" role="alert" className="text-sm text-destructive">
                {error}
              </p>
            ) : null}
            <DialogFooter>
              <Button
                type="button"
                variant="outline"
                onClick={() => {
                  setOpen(false);
                  reset();
                }}
              >
                Cancel
              </Button>
              {/* Not disabled for an empty label: the refusal says what is missing. */}
              <Button type="submit" disabled={pending}>
                {pending ? 'Saving…' : 'Add secret'}
              </Button>
            </DialogFooter>
          </form>
        )}
      </DialogContent>
    </Dialog>
  );
}
