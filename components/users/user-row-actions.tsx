'use client';

import { useRouter } from 'next/navigation';
import { useState, useTransition } from 'react';
import { toast } from 'sonner';
import { updateUserAction } from '@/app/(console)/users/actions';
import { Button } from '@/components/ui/button';
import { Dialog, DialogClose, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from '@/components/ui/dialog';
import { Select } from '@/components/ui/select';
import type { Role } from '@/db/schema';

const ROLE_RIGHTS: Record<Role, string> = {
  viewer: 'They can read everything, and run, retry, pause or change nothing.',
  operator: 'They can run, retry, pause and reset breakers, and change no configuration.',
  admin: 'They can do everything: also edit configuration, credentials, mappings, channels and roles.',
};

interface Change {
  title: string;
  description: string;
  confirmLabel: string;
  done: string;
  patch: { role?: Role; disabled?: boolean };
}

/**
 * A user's role and whether they may sign in. Each change asks first, saying what it does: a role
 * select acts on a wrong option or an arrow key, and a disable signs the person out at once.
 */
export function UserRowActions({
  id,
  name,
  role,
  disabled,
  self,
}: {
  id: string;
  name: string;
  role: Role;
  disabled: boolean;
  self: boolean;
}) {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [change, setChange] = useState<Change | null>(null);
  const apply = (c: Change) =>
    start(async () => {
      // What this page shows: the server refuses the change if another admin has changed either since.
      const result = await updateUserAction({ userId: id, ...c.patch, expectedRole: role, expectedDisabled: disabled });
      setChange(null);
      if (result.ok) toast.success(c.done);
      else toast.error(result.error);
      router.refresh();
    });
  const askRole = (next: Role) =>
    setChange({
      title: `Make ${name} ${next === 'admin' || next === 'operator' ? 'an' : 'a'} ${next}?`,
      description: self
        ? `You lose the admin role at once: only another admin can give it back. ${ROLE_RIGHTS[next]}`
        : `${ROLE_RIGHTS[next]} The change applies on their next request and is audited.`,
      confirmLabel: `Make ${next}`,
      done: `${name} is now ${next}`,
      patch: { role: next },
    });
  const askDisabled = () =>
    setChange(
      disabled
        ? {
            title: `Enable ${name}?`,
            description: `${name} can sign in again through SSO, as ${role}. Sessions ended by the disable stay ended.`,
            confirmLabel: 'Enable',
            done: `${name} can sign in again`,
            patch: { disabled: false },
          }
        : {
            title: `Disable ${name}?`,
            description: `${name} is signed out everywhere at once and cannot sign in until an admin enables them again. The API tokens ${name} created are revoked: enabling ${name} again does not bring them back.`,
            confirmLabel: 'Disable',
            done: `${name} is disabled and signed out on their next request`,
            patch: { disabled: true },
          },
    );
  return (
    <div className="flex flex-wrap items-center justify-end gap-2">
      <Select
        aria-label={`Role of ${name}`}
        // The saved role until a change is confirmed: Cancel leaves the select as it was.
        value={role}
        // A choice made before the page's scripts ran asks once, like any other (early-clicks.ts).
        data-early-once=""
        disabled={pending}
        onChange={(e) => askRole(e.target.value as Role)}
      >
        <option value="viewer">viewer</option>
        <option value="operator">operator</option>
        <option value="admin">admin</option>
      </Select>
      {!self ? (
        <Button size="sm" variant={disabled ? 'outline' : 'ghost'} disabled={pending} onClick={askDisabled}>
          {disabled ? 'Enable' : 'Disable'}
        </Button>
      ) : null}
      <Dialog open={change !== null} onOpenChange={(open) => (open ? null : setChange(null))}>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>{change?.title}</DialogTitle>
            <DialogDescription>{change?.description}</DialogDescription>
          </DialogHeader>
          <DialogFooter>
            <DialogClose asChild>
              <Button variant="outline">Cancel</Button>
            </DialogClose>
            <Button
              variant={change?.patch.disabled || self ? 'destructive' : 'default'}
              disabled={pending}
              onClick={() => change && apply(change)}
            >
              {pending ? 'Working…' : change?.confirmLabel}
            </Button>
          </DialogFooter>
        </DialogContent>
      </Dialog>
    </div>
  );
}
