// Records real llama-server responses into test/fixtures/, which the fake llama-server replays byte for byte.
// Run: node --import tsx scripts/record-fixtures.ts  (builds llama-server first if needed)
//      ... --missing   records only the requests that have no fixture yet, keeping the others byte for byte
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { startLlamaServer } from "../test/support/llama-server.js";

export interface Fixture {
  name: string;
  request: { method: string; path: string; body?: unknown };
  status: number;
  headers: Record<string, string>;
  body: string;
}

const chat = (stream: boolean) => ({
  model: "tiny",
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Say something about caches." },
  ],
  max_tokens: 12,
  stream,
});

const REQUESTS: Fixture["request"][] = [
  { method: "POST", path: "/v1/chat/completions", body: chat(true) },
  { method: "POST", path: "/v1/chat/completions", body: chat(false) },
  {
    method: "POST",
    path: "/v1/completions",
    body: { model: "tiny", prompt: "Once upon a time", max_tokens: 10, stream: true },
  },
  { method: "POST", path: "/v1/completions", body: { model: "tiny", prompt: "Once upon a time", max_tokens: 10 } },
  { method: "POST", path: "/completion", body: { prompt: "The cache", n_predict: 10, stream: true } },
  { method: "POST", path: "/completion", body: { prompt: "The cache", n_predict: 10 } },
  {
    method: "POST",
    path: "/v1/messages",
    body: {
      model: "tiny",
      max_tokens: 12,
      stream: true,
      system: "Be brief.",
      messages: [{ role: "user", content: "Hi there" }],
    },
  },
  {
    method: "POST",
    path: "/v1/messages",
    body: { model: "tiny", max_tokens: 12, system: "Be brief.", messages: [{ role: "user", content: "Hi there" }] },
  },
  {
    method: "POST",
    path: "/v1/responses",
    body: { model: "tiny", input: "Say something about caches.", max_output_tokens: 10, stream: true },
  },
  {
    method: "POST",
    path: "/v1/responses",
    body: { model: "tiny", input: "Say something about caches.", max_output_tokens: 10 },
  },
  { method: "GET", path: "/props" },
  { method: "GET", path: "/slots" },
  { method: "GET", path: "/health" },
  { method: "GET", path: "/metrics" },
];

function fixtureName(r: Fixture["request"]): string {
  const stream = (r.body as { stream?: boolean } | undefined)?.stream ? "-stream" : "";
  return `${r.method.toLowerCase()}${r.path.replace(/[/_]+/g, "-")}${stream}`;
}

async function main(): Promise<void> {
  const path = new URL("../test/fixtures/llama-server.json", import.meta.url);
  const kept: Fixture[] =
    process.argv.includes("--missing") && existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : [];
  const have = new Set(kept.map((f) => f.name));
  const server = await startLlamaServer();
  const out: Fixture[] = [...kept];
  try {
    for (const request of REQUESTS.filter((r) => !have.has(fixtureName(r)))) {
      const res = await fetch(server.url + request.path, {
        method: request.method,
        headers: request.body ? { "content-type": "application/json" } : {},
        body: request.body ? JSON.stringify(request.body) : undefined,
      });
      const headers: Record<string, string> = {};
      res.headers.forEach((v, k) => {
        if (!["date", "keep-alive", "connection", "content-length", "transfer-encoding"].includes(k)) headers[k] = v;
      });
      out.push({ name: fixtureName(request), request, status: res.status, headers, body: await res.text() });
    }
  } finally {
    await server.stop();
  }
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`recorded ${out.length - kept.length} responses to ${path.pathname} (${out.length} in all)`);
}

await main();
