/**
 * Seeded fuzzing for the never-throw contract of validators and the parser: random buffers, truncated
 * and bit-flipped real packets, each placed at a random offset in a view that ends exactly where the
 * packet ends, so a read past `end` throws RangeError and fails the test.
 */

/** Returns mulberry32, a small seeded PRNG giving floats in [0, 1). */
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

/**
 * Calls `check(view, offset, end)` for `count` inputs made from `seeds`: a quarter random bytes, a
 * quarter truncated seeds, half seeds with 1-4 flipped bits or overwritten bytes (some truncated too).
 * Deterministic for a given `seed`.
 */
export function fuzz(
  seed: number,
  count: number,
  seeds: readonly Uint8Array[],
  check: (view: DataView, offset: number, end: number) => void,
): void {
  const random = mulberry32(seed);
  const int = (n: number): number => Math.floor(random() * n);
  for (let i = 0; i < count; i++) {
    const mode = int(4);
    let bytes: Uint8Array;
    if (mode === 0 || seeds.length === 0) {
      bytes = new Uint8Array(int(100));
      for (let j = 0; j < bytes.length; j++) bytes[j] = int(256);
    } else {
      const base = seeds[int(seeds.length)] ?? new Uint8Array(0);
      bytes = base.slice(0, mode === 1 ? int(base.length + 1) : base.length);
      if (mode >= 2 && bytes.length > 0) {
        const edits = 1 + int(4);
        for (let e = 0; e < edits; e++) {
          const at = int(bytes.length);
          const kind = int(4);
          if (kind === 0) bytes[at] = int(256);
          else if (kind === 1) bytes[at] = random() < 0.5 ? 0 : 0xff;
          else bytes[at] = (bytes[at] ?? 0) ^ (1 << int(8));
        }
        if (mode === 3) bytes = bytes.slice(0, int(bytes.length + 1));
      }
    }
    const offset = int(8);
    const buffer = new ArrayBuffer(offset + bytes.length);
    new Uint8Array(buffer).set(bytes, offset);
    check(new DataView(buffer), offset, offset + bytes.length);
  }
}
