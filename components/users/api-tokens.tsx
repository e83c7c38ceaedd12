'use client';

import { useRouter } from 'next/navigation';
import { useEffect, useRef, useState, useTransition } from 'react';
import { toast } from 'sonner';
import { createApiTokenAction, revokeApiTokenAction } from '@/app/(console)/users/tokens/actions';
import { ConfirmAction } from '@/components/common/confirm-action';
import { CopyButton } from '@/components/common/copy-button';
import { Button } from '@/components/ui/button';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';

/** The create form; after creation it shows the value once, with a copy button. */
export function CreateApiToken() {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [name, setName] = useState('');
  const [role, setRole] = useState<'viewer' | 'operator'>('viewer');
  const [days, setDays] = useState('90');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [created, setCreated] = useState<{ name: string; value: string } | null>(null);
  const createdBox = useRef<HTMLDivElement>(null);
  const nameInput = useRef<HTMLInputElement>(null);
  // The new value is what to act on next: focus lands on its Copy button (a keyboard or screen
  // reader user is taken to it, not left on the form's button), and back on the form after Done.
  useEffect(() => {
    if (created) createdBox.current?.querySelector('button')?.focus();
  }, [created]);

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    start(async () => {
      const result = await createApiTokenAction({ name, role, expiresInDays: Number(days) });
      if (result.ok) {
        setErrors({});
        setCreated({ name: result.data.name, value: result.data.value });
        setName('');
        toast.success(`Token ${result.data.name} created: copy it now, it is not shown again.`);
        router.refresh();
      } else {
        setErrors(result.fieldErrors ?? {});
        toast.error(result.error);
      }
    });
  };

  return (
    <Card>
      <CardHeader>
        <CardTitle>New token</CardTitle>
        <CardDescription>
          One token per script, so each can be revoked alone. The value is shown once; Junction keeps only its hash.
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-4">
        <form onSubmit={submit} data-needs-js className="flex flex-wrap items-end gap-3">
          <div className="flex min-w-56 flex-col gap-1.5">
            <Label htmlFor="token-name">Name</Label>
            <Input
              id="token-name"
              ref={nameInput}
              value={name}
              placeholder="nightly-ci"
              maxLength={80}
              aria-invalid={errors.name ? true : undefined}
              aria-describedby={errors.name ? 'token-name-error' : undefined}
              onChange={(e) => setName(e.target.value)}
            />
            {errors.name ? (
              <p id="token-name-error" className="text-xs text-destructive">
                {errors.name}
              </p>
            ) : null}
          </div>
          <div className="flex flex-col gap-1.5">
            <Label htmlFor="token-role">Role</Label>
            <Select id="token-role" value={role} onChange={(e) => setRole(e.target.value as 'viewer' | 'operator')}>
              <option value="viewer">viewer (reads)</option>
              <option value="operator">operator (also runs, retries, cancels)</option>
            </Select>
          </div>
          <div className="flex flex-col gap-1.5">
            <Label htmlFor="token-expiry">Expires in</Label>
            <Select id="token-expiry" value={days} onChange={(e) => setDays(e.target.value)}>
              <option value="7">7 days</option>
              <option value="30">30 days</option>
              <option value="90">90 days</option>
              <option value="365">1 year</option>
            </Select>
          </div>
          <Button type="submit" disabled={pending}>
            {pending ? 'Creating…' : 'Create token'}
          </Button>
        </form>
        {created ? (
          <div ref={createdBox} role="status" className="flex flex-col gap-2 rounded-md border border-warning bg-warning/10 p-3 text-sm">
            <p>
              Token <strong>{created.name}</strong>: copy it now. It will not be shown again.
            </p>
            <div className="flex flex-wrap items-center gap-2">
              <code data-testid="new-token-value" className="rounded bg-card px-2 py-1 text-xs break-all">
                {created.value}
              </code>
              <CopyButton value={created.value} />
              <Button
                size="sm"
                variant="ghost"
                onClick={() => {
                  setCreated(null);
                  nameInput.current?.focus();
                }}
              >
                Done
              </Button>
            </div>
          </div>
        ) : null}
      </CardContent>
    </Card>
  );
}

export function RevokeApiToken({ id, name }: { id: string; name: string }) {
  return (
    <ConfirmAction
      label="Revoke"
      title={`Revoke token ${name}?`}
      description="Every request with this token is refused from now on (401). Scripts that use it stop working; this cannot be undone."
      confirmLabel="Revoke token"
      destructive
      action={() => revokeApiTokenAction({ id })}
      successMessage={`Token ${name} revoked`}
    />
  );
}
