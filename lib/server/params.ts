import { notFound } from 'next/navigation';

/** Longest integration name a URL may carry; anything longer names no integration. */
const MAX_NAME = 200;

/**
 * A dynamic route segment as the integration name it stands for. Next.js hands pages the segment
 * already decoded; decoding again breaks a name with a '%' in it (URIError, an error page instead
 * of the integration), so a segment that does not decode is taken as it is. A name no integration
 * can have (a NUL character, which PostgreSQL text cannot hold, or an absurd length) is the
 * not-found page at once, never a database error.
 */
export function segmentName(segment: string): string {
  let name = segment;
  try {
    name = decodeURIComponent(segment);
  } catch {
    name = segment;
  }
  if (name.includes('\u0000') || name.length > MAX_NAME) notFound();
  return name;
}
