import { z } from 'zod';
import { open, seal, type Keyring } from '../governance/crypto';

/**
 * A channel's one secret (the webhook's HMAC key or the SMTP password), sealed with AAD
 * `channel/<id>`: a sealed value moved to another channel's row does not open.
 */

const ZSealedSecret = z.object({ keyId: z.string().min(1), sealed: z.string().min(1) });

function channelAad(id: string): string {
  return `channel/${id}`;
}

/** The text stored in alert_channels.sealed_secret: the sealed value with the id of its key. */
export function sealChannelSecret(keyring: Keyring, channelId: string, secret: string): string {
  return JSON.stringify(seal(keyring, secret, channelAad(channelId)));
}

export function openChannelSecret(keyring: Keyring, channelId: string, stored: string): string {
  const parsed = ZSealedSecret.safeParse(JSON.parse(stored));
  if (!parsed.success) throw new Error(`the sealed secret of alert channel ${channelId} is malformed; set the secret again`);
  return open(keyring, parsed.data, channelAad(channelId));
}
