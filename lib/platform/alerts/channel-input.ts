import { z } from 'zod';
import type { Refusal } from '../errors';

/** What the channel form sends (ZChannelInput, with messages per field) and what the console and delivery read. */

export type ChannelType = 'webhook' | 'slack' | 'email';

const channelName = z
  .string({ error: 'name is required' })
  .trim()
  .min(1, 'name is required')
  .max(80, 'name must be at most 80 characters')
  // Parentheses too: the seeded "Ops webhook (sandbox)" could not be saved, not even unchanged.
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9 _()-]*$/,
    'name may contain letters, digits, spaces, _, - and parentheses (and starts with a letter or digit)',
  );

const httpUrl = z
  .string({ error: 'url is required' })
  .trim()
  .max(2000, 'url must be at most 2,000 characters')
  .refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v) && new URL(v).hostname !== '', {
    message: 'url must be an http(s):// URL, e.g. https://hooks.example.com/junction',
    abort: true,
  })
  // A webhook's URL is kept in the audit trail for good (and shown, masked, to every role).
  .refine((v) => !new URL(v).username && !new URL(v).password, {
    message:
      'url carries a user name or password, which every signed-in person would see and the audit trail would keep: remove it, and set hmacSecret so the receiver can check each delivery',
  });

/**
 * A Slack incoming-webhook URL is itself a credential (whoever holds it can post to the channel),
 * so it is write-only like the SMTP password: empty (or absent) keeps the stored URL on update
 * (the service refuses a new channel without one); only spaces is refused, not taken as "keep".
 */
const slackUrl = z.preprocess(
  (v) => (v === '' || v === null ? undefined : v),
  z
    .string({ error: 'url must be text: the Slack incoming-webhook URL' })
    .refine((v) => v.trim() !== '', {
      message: 'url is only spaces: paste the Slack incoming-webhook URL, or leave the field empty to keep the current one',
      abort: true,
    })
    .pipe(httpUrl)
    .optional(),
);

const smtpUrl = z
  .string({ error: 'smtpUrl is required' })
  .trim()
  .refine((v) => /^smtps?:\/\//i.test(v) && URL.canParse(v) && new URL(v).hostname !== '', {
    message: 'smtpUrl must look like smtp://user:password@host:587 (smtps:// for implicit TLS)',
  });

/** A form's empty field means "not given". */
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const recipients = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[,;\s]+/).filter(Boolean) : v),
  z
    .array(z.email({ error: (i) => `'${String(i.input)}' is not an e-mail address` }), { error: 'to must list e-mail addresses' })
    .min(1, 'to needs at least one e-mail address'),
);

const enabled = z.boolean({ error: 'enabled must be true or false' }).default(true);

/**
 * What an admin submits for a channel. Secrets are write-only: on update, an omitted `hmacSecret`
 * keeps the stored one and `null` removes it; an `smtpUrl` without a password keeps the stored
 * password when it names the same user, and one without a user removes it; a Slack channel's
 * omitted or empty `url` keeps the stored URL.
 */
export const ZChannelInput = z.discriminatedUnion(
  'type',
  [
    z.object({
      type: z.literal('webhook'),
      name: channelName,
      url: httpUrl,
      hmacSecret: z.preprocess(
        blankToUndefined,
        z.string().min(16, 'hmacSecret must be at least 16 characters').max(512).nullable().optional(),
      ),
      enabled,
    }),
    z.object({ type: z.literal('slack'), name: channelName, url: slackUrl, enabled }),
    z.object({
      type: z.literal('email'),
      name: channelName,
      to: recipients,
      from: z.email({ error: 'from must be an e-mail address' }),
      smtpUrl,
      enabled,
    }),
  ],
  { error: 'type must be one of webhook, slack, email' },
);
export type TChannelInput = z.infer<typeof ZChannelInput>;

export type ChannelResult = { ok: true; id: string } | (Refusal & { code: 'invalid_input' | 'conflict' | 'not_found' | 'stale' });

/** What the console gets: everything but the secret, which shows only as `{ set }`. */
export interface ChannelView {
  id: string;
  name: string;
  type: ChannelType;
  enabled: boolean;
  version: number;
  /**
   * The webhook channel's URL masked (webhook-url.ts: host and plain path words, query values
   * `***`), as every role may see it; null for Slack, whose URL is a secret (see `slackUrl`).
   */
  url: string | null;
  /** Slack: whether a URL is stored and its host, for a masked target (`hooks.slack.com/…`); never the URL. */
  slackUrl: { set: boolean; host: string | null } | null;
  to: string[] | null;
  from: string | null;
  /** The SMTP URL without its password. */
  smtpUrl: string | null;
  hmacSecret: { set: boolean } | null;
  smtpPassword: { set: boolean } | null;
  createdAt: Date;
  updatedAt: Date;
  updatedBy: string;
}

/** Where and how the delivery worker sends: secrets opened, for the worker only. */
export type ChannelTarget =
  | { id: string; name: string; type: 'webhook'; url: string; hmacSecret: string | null }
  | { id: string; name: string; type: 'slack'; url: string }
  | {
      id: string;
      name: string;
      type: 'email';
      to: string[];
      from: string;
      smtp: { host: string; port: number; secure: boolean; user: string | null; password: string | null };
    };
