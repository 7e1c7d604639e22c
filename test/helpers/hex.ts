/**
 * Test helpers for packets written as hex: whitespace separates groups and `#` starts a comment
 * that runs to the end of the line, so each field can carry its meaning.
 */

/** Parses commented hex into bytes. Throws on an odd digit count or a non-hex character. */
export function hex(text: string): Uint8Array {
  const digits = text
    .split('\n')
    .map((line) => line.replace(/#.*$/, ''))
    .join('')
    .replace(/\s+/g, '');
  if (digits.length % 2 !== 0) throw new Error(`hex: odd number of digits (${digits.length})`);
  if (!/^[0-9a-fA-F]*$/.test(digits)) throw new Error('hex: non-hex character');
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Formats bytes as lowercase hex with no separators. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** A DataView over exactly `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
