import { methodNotAllowed, notFound, type Reply, type SandboxRequest } from './http';

/** Path parameters by name (`:system` → `params.system`); a trailing `*` puts the rest in `params['*']`. */
export type Params = Record<string, string>;
export type Handler = (req: SandboxRequest, params: Params) => Reply;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface Route {
  /**
   * `/oauth/token`, `/_admin/faults/:system` (one segment), `/accounting/*` (the path itself and
   * anything below it: the handler routes further).
   */
  path: string;
  /** Runs once the path matched, before the method is looked at: e.g. a 404 for an unknown `:system`. */
  check?: (req: SandboxRequest, params: Params) => void;
  /** One handler a method (a 405 naming them for any other method, in this order), or one for every method. */
  handle: Handler | Partial<Record<Method, Handler>>;
}

function match(pattern: string[], segments: string[]): Params | null {
  const params: Params = {};
  for (const [i, part] of pattern.entries()) {
    if (part === '*' && i === pattern.length - 1) {
      params['*'] = segments.slice(i).join('/');
      return params;
    }
    const segment = segments[i];
    if (segment === undefined) return null;
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part !== segment) return null;
  }
  return segments.length === pattern.length ? params : null;
}

/**
 * A route table as one request function: the first route whose path matches answers (404 when
 * none does, 405 with `Allow` when the path matches but not the method).
 */
export function router(routes: Route[]): (req: SandboxRequest) => Reply {
  const table = routes.map((route) => ({ ...route, pattern: route.path.split('/').filter(Boolean) }));
  return (req) => {
    for (const route of table) {
      const params = match(route.pattern, req.segments);
      if (!params) continue;
      route.check?.(req, params);
      if (typeof route.handle === 'function') return route.handle(req, params);
      const handler = Object.hasOwn(route.handle, req.method) ? route.handle[req.method as Method] : undefined;
      if (!handler) return methodNotAllowed(req, Object.keys(route.handle));
      return handler(req, params);
    }
    return notFound(req);
  };
}
