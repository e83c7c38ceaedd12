/**
 * Benchmark 7's helper processes (`node --import tsx bench/intake-server.ts`), env DATABASE_URL,
 * JUNCTION_SECRETS_KEY, MODE=bare|worker, PORT; prints "ready <port>". The product's servers are
 * measured as they ship: the intake listener (worker/intake.ts) and the Next.js route.
 * - worker: the platform worker that applies the events (no server).
 * - bare: node:http that verifies the same Standard Webhooks signature with the same package and
 *   inserts the same event row (id, type, payload; a duplicate id ignored), nothing else.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { connect } from '../db/client';
import { createBoss } from '../lib/platform/execution/boss';
import { startPlatformWorker } from '../lib/platform/execution/worker';
import { keyringFrom } from '../lib/platform/governance/crypto';
import { activeWebhookSecrets } from '../lib/platform/intake/secrets';
import { BENCH_EVENTS, benchEventsRegistry } from './intake-integration';

function readLimited(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function main() {
  const url = process.env.DATABASE_URL!;
  const key = process.env.JUNCTION_SECRETS_KEY!;
  const db = connect(url, { max: 10, name: `junction-bench-intake-${process.env.MODE}` });
  const keyring = keyringFrom({ key, keyId: 'k1' });
  if (process.env.MODE === 'worker') {
    // The platform worker applying the events, in its own process (not the load generator's).
    const boss = createBoss(url, { max: 4 });
    boss.on('error', () => {});
    await boss.start();
    await startPlatformWorker({
      db,
      boss,
      registry: benchEventsRegistry(),
      workerId: 'bench-intake-worker',
      options: { pollingIntervalSeconds: 0.5, scheduleSyncMs: 0, syncRegistry: false },
    });
    process.stdout.write('ready 0\n');
    return;
  }
  const secrets = await activeWebhookSecrets(db, keyring, BENCH_EVENTS);
  const hooks = secrets.map((s) => new Webhook(s));
  const handle = async (req: IncomingMessage, headers: Record<string, string>): Promise<{ status: number; body: unknown }> => {
    if ((headers['content-type'] ?? '').split(';')[0] !== 'application/json') return { status: 415, body: {} };
    const raw = await readLimited(req, 256 * 1024);
    if (!raw) return { status: 413, body: {} };
    const text = raw.toString('utf8');
    if (
      !hooks.some((h) => {
        try {
          h.verify(text, headers);
          return true;
        } catch {
          return false;
        }
      })
    )
      return { status: 401, body: { error: 'bad signature' } };
    const body = JSON.parse(text) as { type: string };
    await db.execute(
      sql`insert into bench_bare_events (event_id, event_type, payload) values (${headers['webhook-id']}, ${body.type}, ${text}::jsonb) on conflict do nothing`,
    );
    return { status: 200, body: { received: true } };
  };
  const server = createServer(async (req, res) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    try {
      const answer = await handle(req, headers);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    } catch (error) {
      res.writeHead(503).end(JSON.stringify({ error: (error as Error).message.slice(0, 200) }));
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
}

// A SIGTERM ends the process through exit(), which writes a --cpu-prof profile.
process.on('SIGTERM', () => process.exit(0));

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
