import { describe, expect, it } from 'vitest';
import { json, ReplyError, type SandboxRequest } from './http';
import { router } from './router';

const request = (method: string, path: string): SandboxRequest => ({
  method,
  path,
  segments: path.split('/').filter(Boolean),
  query: new URLSearchParams(),
  headers: {},
  body: Buffer.alloc(0),
  receivedAt: 0,
});

/** The reply, whether the route returned it or threw it (404, 405, a check's refusal). */
function answer(route: (req: SandboxRequest) => ReturnType<typeof json>, method: string, path: string) {
  try {
    return route(request(method, path));
  } catch (error) {
    if (error instanceof ReplyError) return error.reply;
    throw error;
  }
}

describe('the stand-ins route table', () => {
  const route = router([
    { path: '/', handle: { GET: () => json(200, 'home') } },
    { path: '/things/:id', handle: { GET: (_r, p) => json(200, p), DELETE: () => json(204, null) } },
    {
      path: '/guarded/:name',
      check: (_req, { name }) => {
        if (name !== 'known') throw new ReplyError(json(404, { error: 'unknown_name' }));
      },
      handle: { PUT: () => json(200, 'put') },
    },
    { path: '/system/*', handle: (req, p) => json(200, { method: req.method, rest: p['*'] }) },
  ]);

  it('answers the matching path and method with the path parameters', () => {
    expect(answer(route, 'GET', '/')).toMatchObject({ status: 200, body: 'home' });
    expect(answer(route, 'GET', '/things/42')).toMatchObject({ status: 200, body: { id: '42' } });
    expect(answer(route, 'DELETE', '/things/42')).toMatchObject({ status: 204 });
  });

  it('refuses another method with 405 and Allow listing the route methods in order', () => {
    const reply = answer(route, 'POST', '/things/42');
    expect(reply.status).toBe(405);
    expect(reply.headers?.allow).toBe('GET, DELETE');
    expect(answer(route, 'constructor', '/things/42').status).toBe(405);
  });

  it('runs the check before the method: an unknown parameter is a 404 whatever the method', () => {
    expect(answer(route, 'POST', '/guarded/other')).toMatchObject({ status: 404, body: { error: 'unknown_name' } });
    expect(answer(route, 'PUT', '/guarded/known').status).toBe(200);
  });

  it('hands a prefix and everything below it, with any method, to one handler', () => {
    expect(answer(route, 'PATCH', '/system')).toMatchObject({ status: 200, body: { method: 'PATCH', rest: '' } });
    expect(answer(route, 'GET', '/system/v1/items')).toMatchObject({ status: 200, body: { rest: 'v1/items' } });
  });

  it('answers 404 for a path no route matches: longer, shorter or different', () => {
    expect(answer(route, 'GET', '/things').status).toBe(404);
    expect(answer(route, 'GET', '/things/1/more').status).toBe(404);
    expect(answer(route, 'GET', '/nowhere').status).toBe(404);
    expect(answer(route, 'GET', '/systemic').status).toBe(404);
  });
});
