import { noSuchRoute } from '@/lib/server/api-methods';

export const dynamic = 'force-dynamic';

/** /api itself and any path under it no other route serves: a JSON 404, not the console's HTML not-found page. */
export const GET = noSuchRoute;
export const POST = noSuchRoute;
export const PUT = noSuchRoute;
export const PATCH = noSuchRoute;
export const DELETE = noSuchRoute;
// Next's own OPTIONS answer would be a 204 listing every method, for a path that does not exist.
export const OPTIONS = noSuchRoute;
