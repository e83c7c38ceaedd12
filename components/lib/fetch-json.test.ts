import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fetchJson, FetchJsonError } from './fetch-json';

let server: Server;
let base = '';
const answers: Record<string, { status: number; body: string; type?: string }> = {
  '/ok': { status: 200, body: JSON.stringify({ items: [{ id: 'a', n: 1 }] }) },
  '/refused': { status: 403, body: JSON.stringify({ error: 'Operators only: ask an admin for the operator role.' }) },
  '/crash': { status: 502, body: '<html>Bad gateway</html>', type: 'text/html' },
  '/not-json': { status: 200, body: '<html>login</html>', type: 'text/html' },
  '/wrong-shape': { status: 200, body: JSON.stringify({ items: [{ id: 1 }] }) },
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const answer = answers[new URL(req.url ?? '/', 'http://x').pathname] ?? { status: 404, body: '' };
    res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const ZItems = z.object({ items: z.array(z.object({ id: z.string(), n: z.number() })) });

async function failure(url: string) {
  const error = await fetchJson(url, ZItems).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FetchJsonError);
  return error as FetchJsonError;
}

describe('fetchJson', () => {
  it('returns the body, typed by the schema', async () => {
    const data = await fetchJson(`${base}/ok?x=1`, ZItems);
    expect(data.items[0].n + 1).toBe(2);
  });

  it("throws the API's own message on a refusal, with its status", async () => {
    const error = await failure(`${base}/refused`);
    expect(error).toMatchObject({ status: 403, message: 'Operators only: ask an admin for the operator role.' });
  });

  it('says which path failed and how when the answer is not JSON, not ok, or not the expected shape', async () => {
    expect(await failure(`${base}/crash`)).toMatchObject({ status: 502, message: `${base}/crash answered 502 Bad Gateway` });
    expect((await failure(`${base}/not-json?secret=1`)).message).toBe(`${base}/not-json did not answer with JSON`);
    const shape = await failure(`${base}/wrong-shape`);
    expect(shape.message).toContain('answered in an unexpected shape');
    expect(shape.message).toContain('items[0].id');
  });

  it('says the server could not be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect(await failure(`http://127.0.0.1:${port}/ok`)).toMatchObject({
      status: 0,
      message: expect.stringMatching(/^Could not reach Junction/),
    });
  });
});
