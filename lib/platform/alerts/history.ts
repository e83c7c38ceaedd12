import { and, asc, eq, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { DatabaseOrTransaction } from '../../../db/client';
import { alertChannels, alertDeliveries, alerts, incidents } from '../../../db/schema';
import type { ChannelType } from './channel-input';
import type { AlertStatus } from './delivery';
import type { AlertMessage } from './messages';

/**
 * Alert history for the console: alerts newest first (keyset-paginated on created_at, id), each
 * with its incident and every delivery attempt per channel.
 */

export interface AlertDeliveryView {
  id: string;
  channelId: string;
  channelName: string;
  channelType: ChannelType;
  attempt: number;
  status: 'delivered' | 'failed';
  responseCode: number | null;
  error: string | null;
  /** Delivered, or failed with no retry left. */
  final: boolean;
  at: Date;
}

export interface AlertIncidentView {
  id: string;
  kind: string;
  openedAt: Date;
  closedAt: Date | null;
  eventCount: number;
  /** Failed runs and failed events counted apart (run_failed, events_failed), else null. */
  failedRuns: number | null;
  failedEvents: number | null;
  lastEventAt: Date;
  lastError: string | null;
  runId: string | null;
  undelivered: boolean;
}

export interface AlertHistoryItem {
  id: string;
  event: 'opened' | 'updated' | 'recovered' | 'test';
  integration: string | null;
  title: string;
  status: AlertStatus;
  createdAt: Date;
  channelIds: string[];
  message: AlertMessage;
  incident: AlertIncidentView | null;
  deliveries: AlertDeliveryView[];
}

export interface AlertHistoryPage {
  items: AlertHistoryItem[];
  /** Pass as `before` for the next page; null on the last page. */
  next: { createdAt: Date; id: string } | null;
}

export async function alertHistory(
  db: DatabaseOrTransaction,
  params: {
    limit?: number;
    before?: { createdAt: Date; id: string };
    integration?: string;
    /** Only alerts whose delivery ended (or stands) in one of these. */
    status?: readonly AlertStatus[];
    event?: AlertHistoryItem['event'];
  } = {},
): Promise<AlertHistoryPage> {
  const limit = Math.min(Math.max(Math.trunc(params.limit ?? 50), 1), 200);
  const where: SQL[] = [];
  if (params.integration) where.push(eq(alerts.integration, params.integration));
  if (params.status) where.push(inArray(alerts.status, [...params.status]));
  if (params.event) where.push(eq(alerts.event, params.event));
  if (params.before) {
    const { createdAt, id } = params.before;
    where.push(or(lt(alerts.createdAt, createdAt), and(eq(alerts.createdAt, createdAt), lt(alerts.id, id)))!);
  }
  const rows = await db
    .select({ alert: alerts, incident: incidents })
    .from(alerts)
    .leftJoin(incidents, eq(incidents.id, alerts.incidentId))
    .where(where.length > 0 ? and(...where) : undefined)
    // NULLS LAST to match the index order, so PostgreSQL reads the index instead of sorting.
    .orderBy(sql`${alerts.createdAt} desc nulls last`, sql`${alerts.id} desc nulls last`)
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const ids = page.map((r) => r.alert.id);
  const deliveries =
    ids.length === 0
      ? []
      : await db
          .select({
            id: alertDeliveries.id,
            alertId: alertDeliveries.alertId,
            channelId: alertDeliveries.channelId,
            channelName: alertChannels.name,
            channelType: alertChannels.type,
            attempt: alertDeliveries.attempt,
            status: alertDeliveries.status,
            responseCode: alertDeliveries.responseCode,
            error: alertDeliveries.error,
            final: alertDeliveries.final,
            at: alertDeliveries.at,
          })
          .from(alertDeliveries)
          .innerJoin(alertChannels, eq(alertChannels.id, alertDeliveries.channelId))
          .where(inArray(alertDeliveries.alertId, ids))
          .orderBy(asc(alertDeliveries.at), asc(alertDeliveries.attempt));
  const byAlert = new Map<string, AlertDeliveryView[]>();
  for (const { alertId, ...d } of deliveries) {
    const list = byAlert.get(alertId) ?? [];
    list.push(d);
    byAlert.set(alertId, list);
  }
  const items = page.map(({ alert, incident }): AlertHistoryItem => ({
    id: alert.id,
    event: alert.event as AlertHistoryItem['event'],
    integration: alert.integration,
    title: alert.title,
    status: alert.status as AlertStatus,
    createdAt: alert.createdAt,
    channelIds: alert.channelIds,
    message: alert.body,
    incident: incident
      ? {
          id: incident.id,
          kind: incident.kind,
          openedAt: incident.openedAt,
          closedAt: incident.closedAt,
          eventCount: incident.eventCount,
          failedRuns: incident.failedRuns,
          failedEvents: incident.failedEvents,
          lastEventAt: incident.lastEventAt,
          lastError: incident.lastError,
          runId: incident.runId,
          undelivered: incident.undelivered,
        }
      : null,
    deliveries: byAlert.get(alert.id) ?? [],
  }));
  const last = page.at(-1);
  return { items, next: rows.length > limit && last ? { createdAt: last.alert.createdAt, id: last.alert.id } : null };
}
