// A fast fake llama-server for benchmarks: OpenAI chat streams with a fixed prefill delay and token pacing.
// Usage: node --import tsx bench/fast-upstream.ts [servers]  (prints each server's port on stdout, a line each)
// Each server answers /metrics and /slots with what the real llama-server sent when recorded (the fixtures), so a
// sidecar in front scrapes and re-exports a real set of series.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { PREFILL_MS, TOKEN_MS } from "./pacing.js";

const recorded = JSON.parse(readFileSync(new URL("../test/fixtures/llama-server.json", import.meta.url), "utf8")) as {
  name: string;
  body: string;
}[];
const METRICS = recorded.find((f) => f.name === "get-metrics")?.body;
const SLOTS = recorded.find((f) => f.name === "get-slots")?.body;

const head = '{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"';
const tail = '"}}],"created":1,"id":"chatcmpl-bench","model":"bench","object":"chat.completion.chunk"}';
const role =
  'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"created":1,"id":"chatcmpl-bench","model":"bench","object":"chat.completion.chunk"}\n\n';

function final(n: number): string {
  const timings = {
    cache_n: 0,
    prompt_n: 100,
    prompt_ms: PREFILL_MS,
    predicted_n: n,
    predicted_ms: n * TOKEN_MS,
    predicted_per_second: 1000 / TOKEN_MS,
    predicted_per_token_ms: TOKEN_MS,
  };
  return `data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"created":1,"id":"chatcmpl-bench","model":"bench","object":"chat.completion.chunk","timings":${JSON.stringify(timings)}}\n\ndata: [DONE]\n\n`;
}

const handler: Parameters<typeof createServer>[1] = async (req, res) => {
  if (req.method !== "POST") {
    // Healthy, with slots for every stream (so the sidecar's admission queue never holds the load back),
    // and like a llama-server started without --metrics otherwise.
    if (req.url === "/health") return void res.end('{"status":"ok"}');
    if (req.url === "/props")
      return void res.end('{"total_slots":1024,"model_alias":"bench","default_generation_settings":{"n_ctx":4096}}');
    if (req.url === "/metrics" && METRICS) return void res.end(METRICS);
    if (req.url === "/slots" && SLOTS) return void res.end(SLOTS);
    res.writeHead(404, { "content-type": "application/json" });
    return void res.end('{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}');
  }
  let body = "";
  for await (const c of req) body += c;
  const n = Number(JSON.parse(body || "{}").max_tokens ?? 100);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  res.write(role);
  let i = 0;
  const next = () => {
    if (res.destroyed) return;
    if (i === n) return void res.end(final(n));
    res.write(`data: ${head}tok${i++} ${tail}\n\n`);
    setTimeout(next, TOKEN_MS);
  };
  setTimeout(next, PREFILL_MS);
};

for (let i = 0; i < Number(process.argv[2] ?? 1); i++) {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => {
    process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
  });
}
