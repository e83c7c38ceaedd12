import { AuditValue } from '@/components/audit/audit-value';
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from '@/components/ui/table';
import type { RevertPlan } from '@/lib/platform/governance/config-history';
import { describeMappingChange } from '@/lib/platform/mapping/diff';

function Sentence({ text }: { text: string }) {
  return (
    <>
      {text.split(/`([^`]*)`/).map((piece, i) =>
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

/** A mapping goes back field by field: one sentence per field, as on History ("field `a`: expression …"). */
function MappingChange({ now, then, defaultMapping }: { now: unknown; then: unknown; defaultMapping: unknown }) {
  const sentences = describeMappingChange(now ?? defaultMapping ?? null, then ?? defaultMapping ?? null);
  return (
    <div>
      {then == null ? <p>Back to the built-in default mapping:</p> : null}
      {sentences.length ? (
        <ul className="flex list-disc flex-col gap-0.5 pl-4">
          {sentences.map((s, i) => (
            <li key={i}>
              <Sentence text={s} />
            </li>
          ))}
        </ul>
      ) : (
        <p>No change in the fields (only their formatting).</p>
      )}
    </div>
  );
}

/**
 * What a revert will do, for its confirm dialog: each field with its value now and the value it
 * goes back to, secrets by name only (never reverted, values never shown), or that nothing changes.
 */
export function RevertPlanView({ plan, defaultMapping }: { plan: RevertPlan; defaultMapping?: unknown }) {
  const secrets = plan.secretsChangedSince;
  return (
    <div className="flex flex-col gap-3 text-sm">
      {plan.refusal ? (
        <p role="alert" className="rounded-md bg-destructive/10 p-3 text-destructive">
          {plan.refusal}
        </p>
      ) : plan.changes.length === 0 ? (
        <p className="rounded-md border border-dashed p-3" data-testid="revert-nothing">
          Nothing to change: the configuration is already as it was then{secrets.length ? ', but for its secrets' : ''}.
        </p>
      ) : (
        <div className="max-h-80 overflow-y-auto">
          <Table stacked aria-label="Fields the revert changes">
            <TableHeader>
              <TableRow>
                <TableHead>Field</TableHead>
                <TableHead>Now</TableHead>
                <TableHead>After the revert</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {plan.changes.map((c) => (
                <TableRow key={c.fieldName} data-testid="revert-change">
                  <TableCell data-label="Field" className="font-mono text-xs">
                    {c.fieldName}
                  </TableCell>
                  {c.fieldName === 'mapping' ? (
                    <TableCell data-label="Change" colSpan={2} className="text-xs">
                      <MappingChange now={c.oldValue} then={c.newValue} defaultMapping={defaultMapping} />
                    </TableCell>
                  ) : (
                    <>
                      <TableCell data-label="Now">
                        {c.oldValue === undefined ? (
                          <span className="text-xs text-muted-foreground">not set</span>
                        ) : (
                          <AuditValue value={c.oldValue} tone="old" />
                        )}
                      </TableCell>
                      <TableCell data-label="After the revert">
                        {c.newValue === undefined ? (
                          <span className="text-xs text-muted-foreground">removed</span>
                        ) : (
                          <AuditValue value={c.newValue} tone="new" />
                        )}
                      </TableCell>
                    </>
                  )}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </div>
      )}
      <p className="text-muted-foreground" data-testid="revert-secrets">
        {secrets.length ? (
          <>
            Secrets are never reverted: {secrets.map((s, i) => [i > 0 ? ', ' : '', <code key={s}>{s}</code>])} changed since then and{' '}
            {secrets.length === 1 ? 'keeps its' : 'keep their'} current value (values are never shown).
          </>
        ) : (
          'Secrets are never reverted; none was replaced since then.'
        )}
      </p>
    </div>
  );
}
