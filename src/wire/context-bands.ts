// Generation speed falls as the context grows and as more requests decode at once (the seeds: 57 tokens/s at 32k,
// 27 at 64k on one box), so speeds are compared only within a band of each: a small, fixed set of label values.

/** Upper bounds (exclusive) of the context-depth bands, in tokens; past the last is "128k+". */
const DEPTH_BANDS: [limit: number, name: string][] = [
  [4096, "<4k"],
  [16384, "<16k"],
  [32768, "<32k"],
  [65536, "<64k"],
  [131072, "<128k"],
];

export const DEPTH_BAND_NAMES = [...DEPTH_BANDS.map(([, name]) => name), "128k+"] as const;

/** The band of the context a request decoded at: its whole prompt plus half of what it generated. */
export function depthBand(promptTokens: number, outputTokens: number): string {
  const depth = promptTokens + outputTokens / 2;
  return DEPTH_BANDS.find(([limit]) => depth < limit)?.[1] ?? "128k+";
}

export const DECODING_BAND_NAMES = ["1", "2", "3-4", "5+"] as const;

/** How many requests decoded at once on llama-server (through this sidecar), as a band. */
export function decodingBand(concurrent: number | undefined): string {
  const n = concurrent ?? 1;
  return n <= 1 ? "1" : n === 2 ? "2" : n <= 4 ? "3-4" : "5+";
}
