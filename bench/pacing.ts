// The fake upstream's pacing, shared by the server that keeps it and the bench that spreads its load over it.

export const PREFILL_MS = Number(process.env.BENCH_PREFILL_MS ?? 20);
// 20 ms a token is 50 tokens/s per stream: a fast local model (the field notes report 22-57 tok/s).
export const TOKEN_MS = Number(process.env.BENCH_TOKEN_MS ?? 20);
