import { noSuchRoute } from '@/lib/server/api-methods';

export const dynamic = 'force-dynamic';

/** `/api` itself serves nothing: the catch-all beside it needs a segment, so this answers its JSON 404. */
export const GET = noSuchRoute;
export const POST = noSuchRoute;
export const PUT = noSuchRoute;
export const PATCH = noSuchRoute;
export const DELETE = noSuchRoute;
