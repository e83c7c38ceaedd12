'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { createChannelAction, updateChannelAction } from '@/app/(console)/alerts/actions';
import { FieldError } from '@/components/common/field-error';
import { Button } from '@/components/ui/button';
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle, DialogTrigger } from '@/components/ui/dialog';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';

export interface ChannelFormValue {
  id?: string;
  version?: number;
  name: string;
  type: 'webhook' | 'slack' | 'email';
  url: string;
  to: string;
  from: string;
  smtpUrl: string;
  enabled: boolean;
  hmacSet: boolean;
  /** Slack: a URL is stored (it is never sent to the browser; empty keeps it). */
  urlSet: boolean;
}

const EMPTY: ChannelFormValue = {
  name: '',
  type: 'webhook',
  url: '',
  to: '',
  from: '',
  smtpUrl: '',
  enabled: true,
  hmacSet: false,
  urlSet: false,
};

/** Add or edit an alert channel. Secrets (a Slack URL included) are write-only: empty keeps the stored one. */
export function ChannelForm({ initial, trigger }: { initial?: ChannelFormValue; trigger: React.ReactNode }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState<ChannelFormValue>(initial ?? EMPTY);
  const [hmacSecret, setHmacSecret] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [pending, start] = useTransition();
  const set = <K extends keyof ChannelFormValue>(key: K, v: ChannelFormValue[K]) => setValue((prev) => ({ ...prev, [key]: v }));

  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const input: Record<string, unknown> =
      value.type === 'email'
        ? { type: 'email', name: value.name, to: value.to, from: value.from, smtpUrl: value.smtpUrl, enabled: value.enabled }
        : value.type === 'slack'
          ? { type: 'slack', name: value.name, url: value.url, enabled: value.enabled }
          : { type: 'webhook', name: value.name, url: value.url, enabled: value.enabled, ...(hmacSecret ? { hmacSecret } : {}) };
    start(async () => {
      const result = initial?.id
        ? await updateChannelAction({ id: initial.id, expectedVersion: initial.version ?? 1, input })
        : await createChannelAction({ input });
      if (result.ok) {
        toast.success(initial?.id ? `Channel ${value.name} saved` : `Channel ${value.name} added`);
        setOpen(false);
        setHmacSecret('');
        setErrors({});
        setFormError(null);
        router.refresh();
      } else {
        setErrors(Object.fromEntries(Object.entries(result.fieldErrors ?? {}).map(([k, v]) => [k.replace(/^input\./, ''), v])));
        setFormError(result.error);
      }
    });
  };

  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (o) setValue(initial ?? EMPTY);
      }}
    >
      <DialogTrigger asChild>{trigger}</DialogTrigger>
      <DialogContent>
        <form onSubmit={submit} data-needs-js className="flex flex-col gap-4" noValidate>
          <DialogHeader>
            <DialogTitle>{initial?.id ? `Edit ${initial.name}` : 'Add an alert channel'}</DialogTitle>
            <DialogDescription>
              Alerts go to every enabled channel unless an integration routes them elsewhere. Secrets are write-only.
            </DialogDescription>
          </DialogHeader>
          {formError ? (
            <p role="alert" className="rounded-md bg-destructive/10 p-2 text-sm text-destructive">
              {formError}
            </p>
          ) : null}
          <div className="grid gap-1.5">
            <Label htmlFor="channel-name">Name</Label>
            <Input
              id="channel-name"
              value={value.name}
              onChange={(e) => set('name', e.target.value)}
              aria-invalid={Boolean(errors.name)}
              aria-describedby="channel-name-error"
            />
            <FieldError id="channel-name-error" message={errors.name} />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="channel-type">Type</Label>
            <Select
              id="channel-type"
              value={value.type}
              disabled={Boolean(initial?.id)}
              onChange={(e) => set('type', e.target.value as ChannelFormValue['type'])}
            >
              <option value="webhook">Generic webhook (JSON)</option>
              <option value="slack">Slack-compatible incoming webhook</option>
              <option value="email">E-mail (SMTP)</option>
            </Select>
          </div>
          {value.type === 'slack' ? (
            <div className="grid gap-1.5">
              <Label htmlFor="channel-url">Webhook URL</Label>
              <Input
                id="channel-url"
                type="password"
                autoComplete="new-password"
                value={value.url}
                onChange={(e) => set('url', e.target.value)}
                placeholder={value.urlSet ? 'Set — leave blank to keep the current URL' : 'https://hooks.slack.com/services/…'}
                aria-invalid={Boolean(errors.url)}
                aria-describedby="channel-url-hint channel-url-error"
              />
              <p id="channel-url-hint" className="text-xs text-muted-foreground">
                Anyone with this URL can post to the channel, so it is stored encrypted and never shown again.
              </p>
              <FieldError id="channel-url-error" message={errors.url} />
            </div>
          ) : null}
          {value.type === 'webhook' ? (
            <div className="grid gap-1.5">
              <Label htmlFor="channel-url">URL</Label>
              <Input
                id="channel-url"
                value={value.url}
                onChange={(e) => set('url', e.target.value)}
                placeholder="https://hooks.example.com/junction"
                aria-invalid={Boolean(errors.url)}
                aria-describedby="channel-url-error"
              />
              <FieldError id="channel-url-error" message={errors.url} />
            </div>
          ) : null}
          {value.type === 'webhook' ? (
            <div className="grid gap-1.5">
              <Label htmlFor="channel-hmac">HMAC signing secret (optional)</Label>
              <Input
                id="channel-hmac"
                type="password"
                autoComplete="new-password"
                value={hmacSecret}
                onChange={(e) => setHmacSecret(e.target.value)}
                placeholder={value.hmacSet ? 'Set — leave empty to keep it' : 'At least 16 characters'}
                aria-invalid={Boolean(errors.hmacSecret)}
                aria-describedby="channel-hmac-error"
              />
              <FieldError id="channel-hmac-error" message={errors.hmacSecret} />
            </div>
          ) : null}
          {value.type === 'email' ? (
            <>
              <div className="grid gap-1.5">
                <Label htmlFor="channel-to">To (comma-separated)</Label>
                <Input
                  id="channel-to"
                  value={value.to}
                  onChange={(e) => set('to', e.target.value)}
                  aria-invalid={Boolean(errors.to)}
                  aria-describedby="channel-to-error"
                />
                <FieldError id="channel-to-error" message={errors.to} />
              </div>
              <div className="grid gap-1.5">
                <Label htmlFor="channel-from">From</Label>
                <Input
                  id="channel-from"
                  value={value.from}
                  onChange={(e) => set('from', e.target.value)}
                  aria-invalid={Boolean(errors.from)}
                  aria-describedby="channel-from-error"
                />
                <FieldError id="channel-from-error" message={errors.from} />
              </div>
              <div className="grid gap-1.5">
                <Label htmlFor="channel-smtp">SMTP URL</Label>
                <Input
                  id="channel-smtp"
                  value={value.smtpUrl}
                  onChange={(e) => set('smtpUrl', e.target.value)}
                  placeholder="smtp://user:password@smtp.example.com:587"
                  aria-invalid={Boolean(errors.smtpUrl)}
                  aria-describedby="channel-smtp-error"
                />
                <FieldError id="channel-smtp-error" message={errors.smtpUrl} />
              </div>
            </>
          ) : null}
          <label className="flex items-center gap-2 text-sm">
            <input type="checkbox" checked={value.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled
          </label>
          <DialogFooter>
            <Button type="button" variant="outline" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button type="submit" disabled={pending}>
              {pending ? 'Saving…' : 'Save channel'}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}
