import Link from 'next/link';
import { describeAction, describeConfigChange, type AuditEntryLike, type AuditPart } from '@/lib/platform/governance/audit-words';
import { clip } from '@/lib/platform/words';

export { describeAuditField } from '@/lib/platform/governance/audit-words';

/** An audit value as a person reads it: plain text for scalars, compact JSON otherwise. */
export function AuditValue({ value, tone }: { value: unknown; tone: 'old' | 'new' }) {
  const cls =
    tone === 'old'
      ? 'bg-destructive/8 text-destructive line-through decoration-destructive/40'
      : 'bg-success/10 text-[oklch(0.40_0.12_150)]';
  if (value === null || value === undefined) return <span className="text-muted-foreground">—</span>;
  const text =
    typeof value === 'string'
      ? value
      : Array.isArray(value) && value.every((v) => typeof v !== 'object')
        ? value.join(', ')
        : JSON.stringify(value);
  return <code className={`rounded px-1 py-0.5 text-xs break-all ${cls}`}>{clip(text, 300)}</code>;
}

/** A sentence of text, links and code; `code spans` written with backticks become <code>. */
export function AuditSentence({ parts }: { parts: AuditPart[] }) {
  return (
    <span>
      {parts.map((p, i) =>
        'code' in p ? (
          <code key={i} className="rounded bg-muted px-1">
            {p.code}
          </code>
        ) : 'href' in p ? (
          <Link key={i} href={p.href} className="font-medium underline underline-offset-2">
            {p.text}
          </Link>
        ) : (
          <BacktickText key={i} text={p.text} />
        ),
      )}
    </span>
  );
}

function BacktickText({ text }: { text: string }) {
  const pieces = text.split(/`([^`]*)`/);
  return (
    <>
      {pieces.map((piece, i) =>
        i % 2 === 1 ? (
          <code key={i} className="rounded bg-muted px-1 break-all">
            {piece}
          </code>
        ) : (
          piece
        ),
      )}
    </>
  );
}

/**
 * One audit row's change, the same on History and Audit: an operator action as a sentence with
 * links to its runs, a mapping as one line per changed field, a secret as "set"/"replaced", any
 * other field as old → new. `defaultMapping` is the integration's built-in mapping, for the first
 * custom one.
 */
export function AuditChange({ entry, defaultMapping }: { entry: AuditEntryLike; defaultMapping?: unknown }) {
  if (entry.kind === 'action') return <AuditSentence parts={describeAction(entry.fieldName, entry.newValue)} />;
  const sentences = describeConfigChange(entry, { mapping: defaultMapping });
  if (sentences) {
    return sentences.length === 1 ? (
      <BacktickText text={sentences[0]} />
    ) : (
      <ul className="flex list-disc flex-col gap-0.5 pl-4" data-testid="mapping-diff">
        {sentences.map((s, i) => (
          <li key={i}>
            <BacktickText text={s} />
          </li>
        ))}
      </ul>
    );
  }
  return (
    <span className="flex flex-wrap items-center gap-1">
      <AuditValue value={entry.oldValue} tone="old" /> → <AuditValue value={entry.newValue} tone="new" />
    </span>
  );
}
