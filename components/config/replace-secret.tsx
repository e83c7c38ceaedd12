'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { replaceSecretAction } from '@/app/(console)/integrations/[name]/config/actions';
import { StaleRefusal } from '@/components/common/stale-merge-panel';
import { UnsavedChangesGuard } from '@/components/common/unsaved-changes';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';

/** A write-only field: the value goes to the server once and is never shown again. */
export function ReplaceSecret({
  integration,
  name,
  version,
  isSet,
}: {
  integration: string;
  name: string;
  version: number;
  isSet: boolean;
}) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  // Someone saved the configuration since this page was loaded: its version is sent with the value.
  const [stale, setStale] = useState<{
    message: string;
    latest: { updatedBy: string; updatedAt: string; version?: number } | null;
  } | null>(null);
  // The version a reload (or this dialog's own save) moved to, known at once from the answer: the
  // page's `version` only follows when the refresh lands, and a Save before that was refused as stale.
  const [reloadedVersion, setReloadedVersion] = useState(0);
  const [pending, start] = useTransition();
  // The reload that brings the configuration's new version: saving before it lands would send the old one and be refused again.
  const [reloading, startReload] = useTransition();
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    start(async () => {
      const expectedVersion = Math.max(version, reloadedVersion);
      const result = await replaceSecretAction({ integration, expectedVersion, name, value });
      if (result.ok) {
        setReloadedVersion(result.data.version);
        setValue('');
        setOpen(false);
        setError(null);
        setStale(null);
        toast.success(`${name} ${isSet ? 'replaced' : 'set'}`);
        router.refresh();
      } else if (result.status === 409) {
        setError(null);
        setStale({
          message: result.error,
          latest: (result.details?.latest ?? null) as { updatedBy: string; updatedAt: string; version?: number } | null,
        });
      } else {
        setError(result.fieldErrors?.[`secrets.${name}`] ?? result.fieldErrors?.value ?? result.error);
      }
    });
  };
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (!o) {
          setValue('');
          setError(null);
          setStale(null);
        }
      }}
    >
      <DialogTrigger asChild>
        <Button size="sm" variant="outline">
          {isSet ? 'Replace' : 'Set'}
        </Button>
      </DialogTrigger>
      <DialogContent>
        <UnsavedChangesGuard dirty={open && value.length > 0} what={`the secret ${name} (the value you typed)`} />
        <form onSubmit={submit} data-needs-js className="flex flex-col gap-4">
          <DialogHeader>
            <DialogTitle>
              {isSet ? 'Replace' : 'Set'} {name}
            </DialogTitle>
            <DialogDescription>
              Encrypted at rest; never shown again, not even to admins. The audit trail records that it changed, not the value. The next run
              uses it.
            </DialogDescription>
          </DialogHeader>
          {stale ? (
            <StaleRefusal
              message={stale.message}
              latest={stale.latest}
              kept="Your new value is still in the form."
              reloadLabel="Reload, keeping my value"
              onReload={() => {
                // The page's configuration comes back with the refresh; the value stays here.
                if (typeof stale.latest?.version === 'number') setReloadedVersion(stale.latest.version);
                setStale(null);
                startReload(() => router.refresh());
              }}
            />
          ) : null}
          <div className="grid gap-1.5">
            <Label htmlFor={`secret-${name}`}>New value</Label>
            <Input
              id={`secret-${name}`}
              type="password"
              autoComplete="new-password"
              value={value}
              onChange={(e) => setValue(e.target.value)}
              aria-invalid={Boolean(error)}
              aria-describedby={`secret-${name}-error`}
            />
            {error ? (
              <p id={`secret-${name}-error`} role="alert" className="text-xs text-destructive">
                {error}
              </p>
            ) : null}
          </div>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button type="submit" disabled={pending || reloading || value.length === 0}>
              {pending ? 'Saving…' : reloading ? 'Reloading…' : 'Save secret'}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
