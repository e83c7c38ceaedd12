/**
 * Alerting: channels (edited like config), incidents from platform events, durable delivery.
 * The worker calls `startAlerting`; the console uses the channel commands, `sendTestAlert`,
 * `alertHistory` and `openIncidents`.
 *
 * The folder's public surface: import alerts/ through this file. The two exceptions are
 * channel-secret.ts (governance's key check and rotation open channel secrets) and the
 * AlertMessage type db/schema.ts gives the alerts.body column.
 */
export { sendTestAlert, startAlerting, type AlertingOptions } from './alerting';
export { ZChannelInput, type ChannelResult, type ChannelType, type ChannelView, type TChannelInput } from './channel-input';
export {
  channelTarget,
  createChannel,
  getChannel,
  listChannels,
  sealPlainSlackUrls,
  updateChannel,
  webhookUrlsForEditing,
} from './channels';
export { ALERT_DELIVERY_QUEUE, DEFAULT_DELIVERY_RETRY, ensureAlertQueues, type AlertStatus, type DeliveryRetry } from './delivery';
export { alertHistory, type AlertDeliveryView, type AlertHistoryItem, type AlertHistoryPage, type AlertIncidentView } from './history';
export { handlePlatformEvent, openIncidents, type IncidentChange } from './incidents';
export type { AlertEvent, AlertMessage, IncidentKind } from './messages';
export { maskUrlsInText, maskUrlsInValue } from './webhook-url';
