/**
 * Seeded randomness for the stand-ins: the same seed gives the same contacts and the same fault
 * decisions on every machine, so tests that inject faults are repeatable.
 */

/** mulberry32: a tiny 32-bit PRNG; returns a function giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string, to derive independent streams (one per system) from one seed. */
export function hashString(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The generator for one named stream under a seed. */
export function streamFor(seed: number, name: string): () => number {
  return mulberry32((seed ^ hashString(name)) >>> 0);
}
