import type * as React from 'react';
import { Select } from '@/components/ui/select';

/**
 * The integration filter of list pages: "All integrations" (empty) or one by name; works without
 * JavaScript. A name the list is filtered by that `integrations` lacks (one only alerts name, the
 * audit trail's) is an option too: a select whose value is no option shows its first, and read
 * "All integrations" over a filtered list.
 */
export function IntegrationSelect({
  integrations,
  ...props
}: { integrations: { name: string }[] } & Omit<React.ComponentProps<typeof Select>, 'children'>) {
  const current = typeof props.defaultValue === 'string' ? props.defaultValue : '';
  const options = current && !integrations.some((i) => i.name === current) ? [...integrations, { name: current }] : integrations;
  return (
    <Select name="integration" aria-label="Integration" {...props}>
      <option value="">All integrations</option>
      {options.map((i) => (
        <option key={i.name} value={i.name}>
          {i.name}
        </option>
      ))}
    </Select>
  );
}
