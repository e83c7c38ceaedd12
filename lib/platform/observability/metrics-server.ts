import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectProcessMetrics, metricsAccess, platformMetrics } from './metrics';

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
  const { registry } = platformMetrics();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://worker').pathname;
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics');
      return;
    }
    const access = metricsAccess(req.headers.authorization ?? null, options.token);
    if (!access.ok) {
      res
        .writeHead(access.status, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' })
        .end(JSON.stringify({ error: access.error }));
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`Metrics failed: ${(error as Error).message}`),
    );
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
