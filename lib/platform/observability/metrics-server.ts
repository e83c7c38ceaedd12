import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectProcessMetrics, metricsAccess, platformMetrics } from './metrics';

/**
 * `GET /metrics` of a node:http server (the worker's metrics port, the intake listener): the
 * Prometheus text of this process, behind `Authorization: Bearer <token>`.
 */
export function serveMetrics(req: IncomingMessage, res: ServerResponse, token: string): void {
  const access = metricsAccess(req.headers.authorization ?? null, token);
  if (!access.ok) {
    res
      .writeHead(access.status, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
      .end(JSON.stringify({ error: access.error }));
    return;
  }
  const { registry } = platformMetrics();
  registry.metrics().then(
    (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
    (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`Metrics failed: ${(error as Error).message}`),
  );
}

/**
 * The worker's own metrics endpoint: `GET /metrics` with `Authorization: Bearer <METRICS_TOKEN>`,
 * the Prometheus text format of this process's counters (runs, attempts, outbound HTTP, alert
 * deliveries) and process metrics. Listens only when a token is configured.
 */
export async function startMetricsServer(options: {
  port: number;
  token: string;
  host?: string;
}): Promise<{ url: string; stop(): Promise<void> }> {
  collectProcessMetrics();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://worker').pathname;
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics');
      return;
    }
    serveMetrics(req, res, options.token);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}/metrics`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
