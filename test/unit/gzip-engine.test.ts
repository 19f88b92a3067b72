import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GzipEngine } from '../../src/core/batch/gzip-engine.js';

/**
 * A Parquet page is gzipped from its parts (a 4-byte length, the definition levels, the values) without
 * being copied into one buffer first: the member must hold exactly those bytes, and, for parts shaped as
 * a page's, be the member the page in one buffer gives (what earlier files held).
 */
const text = fc
  .array(fc.constantFrom('{"fw": "v2.', '0", "ok": true, ', '"battery": ', '28.0}', '\t', 'sensor-', '17', '\n'), { maxLength: 30_000 })
  .map((words) => Buffer.from(words.join('')));
const bytes = fc.oneof(
  text,
  fc.uint8Array({ maxLength: 70_000 }).map((a) => Buffer.from(a)),
);

describe('GzipEngine.compressParts', () => {
  it('gives one member holding the parts one after another, empty parts and reuse included', () => {
    const engine = new GzipEngine();
    fc.assert(
      fc.property(fc.array(bytes, { minLength: 1, maxLength: 4 }), fc.constantFrom(0, 1), (parts, level) => {
        const member = Buffer.from(engine.compressParts(parts, level));
        expect(gunzipSync(member).equals(Buffer.concat(parts))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("gives a page's parts the bytes of the page in one buffer", () => {
    const engine = new GzipEngine();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2_100 }), text, fc.constantFrom(0, 1), (levels, values, level) => {
        const length = Buffer.alloc(4);
        length.writeUInt32LE(levels.length);
        const parts = [length, Buffer.from(levels), values];
        const whole = Buffer.from(engine.compress(Buffer.concat(parts), level));
        expect(Buffer.from(engine.compressParts(parts, level)).equals(whole)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});
