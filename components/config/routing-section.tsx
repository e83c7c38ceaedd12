import { FieldError } from '@/components/common/field-error';
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from '@/components/ui/card';
import type { SectionProps } from './schedule-section';

export interface ChannelChoice {
  id: string;
  name: string;
  type: string;
  enabled: boolean;
}

/** Where the integration's alerts go: every enabled channel, or the ones picked. */
export function RoutingSection({ state, set, err, disabled, channels }: SectionProps & { channels: ChannelChoice[] }) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>Alert routing</CardTitle>
        <CardDescription>Where this integration&apos;s alerts go: every enabled channel, or the ones you pick.</CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-2 text-sm">
        <label className="flex items-center gap-2">
          <input type="radio" name="routing" checked={state.routeAll} disabled={disabled} onChange={() => set('routeAll', true)} /> Every
          enabled channel
        </label>
        <label className="flex items-center gap-2">
          <input type="radio" name="routing" checked={!state.routeAll} disabled={disabled} onChange={() => set('routeAll', false)} /> Only
          these channels
        </label>
        {!state.routeAll ? (
          <div className="ml-6 flex flex-col gap-1">
            {channels.length === 0 ? <span className="text-muted-foreground">No channels yet: add one on the Alerts page.</span> : null}
            {channels.map((c) => (
              <label key={c.id} className="flex items-center gap-2">
                <input
                  type="checkbox"
                  disabled={disabled}
                  checked={state.channelIds.includes(c.id)}
                  onChange={(e) =>
                    set('channelIds', e.target.checked ? [...state.channelIds, c.id] : state.channelIds.filter((id) => id !== c.id))
                  }
                />
                {c.name}{' '}
                <span className="text-xs text-muted-foreground">
                  ({c.type}
                  {c.enabled ? '' : ', disabled'})
                </span>
              </label>
            ))}
          </div>
        ) : null}
        <FieldError id="alertRouting-error" message={err('alertRouting')} />
      </CardContent>
    </Card>
  );
}
