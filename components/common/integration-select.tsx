import type * as React from 'react';
import { Select } from '@/components/ui/select';

/** The integration filter of list pages: "All integrations" (empty) or one by name; works without JavaScript. */
export function IntegrationSelect({
  integrations,
  ...props
}: { integrations: { name: string }[] } & Omit<React.ComponentProps<typeof Select>, 'children'>) {
  return (
    <Select name="integration" aria-label="Integration" {...props}>
      <option value="">All integrations</option>
      {integrations.map((i) => (
        <option key={i.name} value={i.name}>
          {i.name}
        </option>
      ))}
    </Select>
  );
}
