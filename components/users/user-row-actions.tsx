'use client';

import { useRouter } from 'next/navigation';
import { useTransition } from 'react';
import { toast } from 'sonner';
import { updateUserAction } from '@/app/(console)/users/actions';
import { Button } from '@/components/ui/button';
import { Select } from '@/components/ui/select';
import type { Role } from '@/db/schema';

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
  const apply = (change: { role?: Role; disabled?: boolean }, done: string) =>
    start(async () => {
      const result = await updateUserAction({ userId: id, ...change });
      if (result.ok) {
        toast.success(done);
        router.refresh();
      } else toast.error(result.error);
    });
  return (
    <div className="flex flex-wrap items-center justify-end gap-2">
      <Select
        aria-label={`Role of ${name}`}
        value={role}
        disabled={pending}
        onChange={(e) => apply({ role: e.target.value as Role }, `${name} is now ${e.target.value}`)}
      >
        <option value="viewer">viewer</option>
        <option value="operator">operator</option>
        <option value="admin">admin</option>
      </Select>
      {!self ? (
        <Button
          size="sm"
          variant={disabled ? 'outline' : 'ghost'}
          disabled={pending}
          onClick={() =>
            apply(
              { disabled: !disabled },
              disabled ? `${name} can sign in again` : `${name} is disabled and signed out on their next request`,
            )
          }
        >
          {disabled ? 'Enable' : 'Disable'}
        </Button>
      ) : null}
    </div>
  );
}
