/**
 * A Fetch request's body, read up to `limit` bytes: null as soon as it is longer (reading stops
 * there and the rest is not read). Counted in bytes, not characters. Shared by the API's route
 * wrapper (route.ts) and the Next.js webhook route (app/hooks/[integration]/route.ts).
 */
export async function readBodyUpTo(request: Request, limit: number): Promise<Buffer | null> {
  if (!request.body) return Buffer.alloc(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
