/**
 * A dynamic route segment as the integration name it stands for. Next.js hands pages the segment
 * already decoded; decoding again breaks a name with a '%' in it (URIError, an error page instead
 * of the integration), so a segment that does not decode is taken as it is.
 */
export function segmentName(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
