import { describe, expect, it } from "vitest";
import { DECODING_BAND_NAMES, DEPTH_BAND_NAMES, decodingBand, depthBand } from "../../../src/wire/context-bands.js";

describe("context bands", () => {
  it("puts a request in the band of the context it decoded at: its prompt plus half its output", () => {
    expect(depthBand(100, 50)).toBe("<4k");
    expect(depthBand(4000, 200)).toBe("<16k"); // 4,100 tokens deep on average while decoding
    expect(depthBand(32_000, 0)).toBe("<32k");
    expect(depthBand(40_000, 100)).toBe("<64k");
    expect(depthBand(100_000, 0)).toBe("<128k");
    expect(depthBand(131_072, 0)).toBe("128k+");
  });

  it("has a small fixed set of bands, so the labels stay bounded", () => {
    const depths = new Set([0, 1, 5000, 20_000, 50_000, 90_000, 200_000, 10_000_000].map((n) => depthBand(n, 0)));
    expect([...depths].every((d) => (DEPTH_BAND_NAMES as readonly string[]).includes(d))).toBe(true);
    expect(DEPTH_BAND_NAMES).toHaveLength(6);
    const decoding = [undefined, 0, 1, 2, 3, 4, 5, 64].map(decodingBand);
    expect(decoding).toEqual(["1", "1", "1", "2", "3-4", "3-4", "5+", "5+"]);
    expect(decoding.every((d) => (DECODING_BAND_NAMES as readonly string[]).includes(d))).toBe(true);
  });
});
