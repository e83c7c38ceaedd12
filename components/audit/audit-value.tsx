/** An audit value as a person reads it: plain text for scalars, compact JSON otherwise. */
export function AuditValue({ value, tone }: { value: unknown; tone: 'old' | 'new' }) {
  const cls = tone === 'old' ? 'bg-destructive/8 text-destructive line-through decoration-destructive/40' : 'bg-success/10 text-[oklch(0.40_0.12_150)]';
  if (value === null || value === undefined) return <span className="text-muted-foreground">—</span>;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return <code className={`rounded px-1 py-0.5 text-xs break-all ${cls}`}>{text.length > 300 ? `${text.slice(0, 297)}…` : text}</code>;
}

export function describeAuditField(kind: string, field: string): string {
  if (kind === 'action') return `action: ${field.replace(/_/g, ' ')}`;
  if (field.startsWith('secret.')) return `secret ${field.slice(7)}`;
  return field;
}

/** One audit row's change: the action's details, or old → new for a field. */
export function AuditChange({ kind, oldValue, newValue }: { kind: string; oldValue: unknown; newValue: unknown }) {
  if (kind === 'action') return <AuditValue value={newValue} tone="new" />;
  return (
    <span className="flex flex-wrap items-center gap-1">
      <AuditValue value={oldValue} tone="old" /> → <AuditValue value={newValue} tone="new" />
    </span>
  );
}
