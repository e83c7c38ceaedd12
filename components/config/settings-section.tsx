import { FieldError } from '@/components/common/field-error';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import { Input } from '@/components/ui/input';
import { Label } from '@/components/ui/label';
import { Select } from '@/components/ui/select';
import type { JsonSchemaProperty } from './config-draft';
import type { SectionProps } from './schedule-section';
import type { ConfigDraft } from './use-config-draft';

/** The integration's own settings, one input a property of its schema (checkbox, choice or text). */
export function SettingsSection({
  state,
  setSetting,
  err,
  disabled,
  settingsSchema,
  required,
}: Omit<SectionProps, 'set'> &
  Pick<ConfigDraft, 'setSetting'> & {
    settingsSchema: Record<string, JsonSchemaProperty>;
    required: string[];
  }) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>Settings</CardTitle>
        <CardDescription>Validated by the integration&apos;s own schema.</CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4 md:grid-cols-2">
        {Object.entries(settingsSchema).map(([key, prop]) => {
          const id = `setting-${key}`;
          const message = err(`settings.${key}`);
          return (
            <div key={key} className="grid gap-1.5">
              {prop.type === 'boolean' ? (
                <label className="flex items-center gap-2 text-sm font-medium">
                  <input
                    type="checkbox"
                    id={id}
                    checked={Boolean(state.settings[key])}
                    disabled={disabled}
                    onChange={(e) => setSetting(key, e.target.checked)}
                  />
                  {key}
                </label>
              ) : (
                <>
                  <Label htmlFor={id}>
                    {key}
                    {required.includes(key) ? '' : ' (optional)'}
                  </Label>
                  {prop.enum ? (
                    <Select
                      id={id}
                      value={String(state.settings[key] ?? '')}
                      disabled={disabled}
                      onChange={(e) => setSetting(key, e.target.value)}
                    >
                      {prop.enum.map((v) => (
                        <option key={String(v)} value={String(v)}>
                          {String(v)}
                        </option>
                      ))}
                    </Select>
                  ) : (
                    <Input
                      id={id}
                      inputMode={prop.type === 'integer' || prop.type === 'number' ? 'numeric' : undefined}
                      value={String(state.settings[key] ?? '')}
                      disabled={disabled}
                      onChange={(e) => setSetting(key, e.target.value)}
                      aria-invalid={Boolean(message)}
                      aria-describedby={`${id}-error`}
                    />
                  )}
                  {prop.minimum !== undefined || prop.maximum !== undefined ? (
                    <span className="text-xs text-muted-foreground">
                      {prop.minimum !== undefined ? `from ${prop.minimum}` : ''} {prop.maximum !== undefined ? `to ${prop.maximum}` : ''}
                    </span>
                  ) : null}
                </>
              )}
              <FieldError id={`${id}-error`} message={message} />
            </div>
          );
        })}
      </CardContent>
    </Card>
  );
}
