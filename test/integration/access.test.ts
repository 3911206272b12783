// Who gets in: Host names (DNS rebinding), the optional API key in both protocols and both header forms, the key
// never forwarded, logged or spanned, and a real llama-server started with its own --api-key behind the sidecar.
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConfigError, parseConfig } from "../../src/config/load.js";
import { type FakeLlama, fromClients, startFakeLlama } from "../support/fake-llama.js";
import { idleCounters } from "../support/llama-metrics.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";

const KEY = "sk-sidecar-3f9a77c1";
const chatBody = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }] });
const messageBody = JSON.stringify({ model: "tiny", max_tokens: 8, messages: [{ role: "user", content: "hi" }] });

/** A request with exactly the Host header given (fetch will not set one). */
function withHost(url: string, path: string, host: string, method = "GET", body?: string) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${url}${path}`, {
      method,
      headers: { host, ...(body ? { "content-type": "application/json" } : {}) },
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (b) => {
        text += b;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

let fake: FakeLlama;
beforeAll(async () => {
  fake = await startFakeLlama();
});
afterAll(async () => fake?.close());

describe("Host header (DNS rebinding)", () => {
  let s: TestSidecar;
  beforeAll(async () => {
    s = await startTestSidecar(fake.url, ["--allowed-hosts", "sidecar,gpu-box.lan"]);
  });
  afterAll(async () => s?.close());

  const port = () => new URL(s.url).port;

  it("lets loopback names, address literals, this machine's name and the allowed hosts through", async () => {
    for (const host of [
      "localhost",
      `localhost:${port()}`,
      "127.0.0.1",
      `[::1]:${port()}`,
      "10.1.2.3:9090",
      "sidecar:9090",
      "GPU-box.lan",
    ]) {
      expect((await withHost(s.url, "/healthz", host)).status, host).toBe(200);
    }
  });

  it("refuses any other name with 403 on every route, in the route's protocol, before llama-server", async () => {
    fake.seen.length = 0;
    for (const [path, method, body] of [
      ["/api/stats", "GET", undefined],
      ["/metrics", "GET", undefined],
      ["/dashboard", "GET", undefined],
      ["/healthz", "GET", undefined],
      ["/v1/chat/completions", "POST", chatBody],
      ["/v1/messages", "POST", messageBody],
      ["/props", "GET", undefined],
    ] as const) {
      const res = await withHost(s.url, path, `evil.example:${port()}`, method, body);
      expect(res.status, path).toBe(403);
      const json = JSON.parse(res.body);
      if (path === "/v1/messages") expect(json).toMatchObject({ type: "error", error: { type: "permission_error" } });
      else expect(json.error).toMatchObject({ type: "permission_error", code: "forbidden" });
      expect(json.error.message).toMatch(/DNS rebinding.*--allowed-hosts/);
    }
    expect(fromClients(fake)).toHaveLength(0);
  });
});

describe("API key", () => {
  let s: TestSidecar;
  const logs: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _e, done) {
        logs.push(String(chunk));
        done();
      },
    });
    s = await startTestSidecar(fake.url, ["--api-key", KEY], { logger: pino({ level: "trace" }, sink) });
  });
  afterAll(async () => s?.close());

  const post = (path: string, body: string, headers: Record<string, string>) =>
    fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

  it("takes the key as Authorization: Bearer or as x-api-key, in both protocols", async () => {
    const forms: Record<string, string>[] = [{ authorization: `Bearer ${KEY}` }, { "x-api-key": KEY }];
    for (const auth of forms) {
      expect((await post("/v1/chat/completions", chatBody, auth)).status).toBe(200);
      expect((await post("/v1/messages", messageBody, auth)).status).toBe(200);
      expect((await fetch(`${s.url}/api/stats`, { headers: auth })).status).toBe(200);
    }
  });

  it("answers a wrong or missing key with 401 in the client's protocol, and forwards nothing", async () => {
    fake.seen.length = 0;
    const wrong: Record<string, string>[] = [
      {},
      { authorization: "Bearer wrong-key-123" },
      { "x-api-key": `${KEY}x` },
      { authorization: KEY }, // the key without "Bearer"
    ];
    for (const auth of wrong) {
      const openai = await post("/v1/chat/completions", chatBody, auth);
      expect(openai.status).toBe(401);
      expect(openai.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(((await openai.json()) as { error: { code: string } }).error.code).toBe("invalid_api_key");
      const anthropic = await post("/v1/messages", messageBody, auth);
      expect(anthropic.status).toBe(401);
      expect(await anthropic.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
      expect((await fetch(`${s.url}/api/stats`, { headers: auth })).status).toBe(401);
      expect((await fetch(`${s.url}/props`, { headers: auth })).status).toBe(401);
    }
    expect(fromClients(fake)).toHaveLength(0);
  });

  it("works with the official SDKs given the key, and refuses them without", async () => {
    const openai = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const chat = await openai.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "hi" }] });
    expect(chat.choices[0]?.message).toBeDefined();
    const anthropic = new Anthropic({ baseURL: s.url, apiKey: KEY, maxRetries: 0 });
    const msg = await anthropic.messages.create({
      model: "tiny",
      max_tokens: 8,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(msg.type).toBe("message");
    const wrong = new Anthropic({ baseURL: s.url, apiKey: "not-the-key", maxRetries: 0 });
    const err = await wrong.messages
      .create({ model: "tiny", max_tokens: 8, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
  });

  it("keeps /metrics and /healthz open (for Prometheus), and the dashboard's own files", async () => {
    for (const path of ["/metrics", "/healthz", "/dashboard", "/dashboard/app.js"]) {
      expect((await fetch(`${s.url}${path}`)).status, path).toBe(200);
    }
  });

  it("never sends the key to llama-server, logs it or puts it on a span", async () => {
    fake.seen.length = 0;
    await post("/v1/chat/completions", chatBody, { authorization: `Bearer ${KEY}` });
    await post("/v1/messages", messageBody, { "x-api-key": KEY });
    await post("/v1/messages/count_tokens", messageBody, { "x-api-key": KEY });
    await s.waitForRecords(3);
    const sent = JSON.stringify(fake.seen.map((x) => x.headers));
    expect(fromClients(fake).length).toBeGreaterThanOrEqual(2);
    expect(sent).not.toContain(KEY);
    expect(logs.join("")).not.toContain(KEY);
    expect(JSON.stringify(s.spans().map((x) => x.attributes))).not.toContain(KEY);
  });

  it("with --protect-metrics, asks for the key on /metrics and /healthz too", async () => {
    const p = await startTestSidecar(fake.url, ["--api-key", KEY, "--protect-metrics"]);
    try {
      expect((await fetch(`${p.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${p.url}/healthz`)).status).toBe(401);
      expect((await fetch(`${p.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
    } finally {
      await p.close();
    }
  });
});

describe("key settings", () => {
  it("reads --api-key-file (a mounted secret), and reports a bad key or file without echoing it", () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-sidecar-key-"));
    writeFileSync(join(dir, "key"), `${KEY}\n`);
    const ok = parseConfig(["--api-key-file", join(dir, "key")], {});
    expect(ok.kind === "config" && ok.config.apiKey).toBe(KEY);
    const problems = (argv: string[]) => {
      try {
        parseConfig(argv, {});
      } catch (err) {
        return (err as ConfigError).problems.join("\n");
      }
      return "";
    };
    expect(problems(["--api-key-file", join(dir, "missing")])).toMatch(
      /--api-key-file=.*missing.*cannot read it \(ENOENT\)/,
    );
    expect(problems(["--api-key", "short7"])).toMatch(/--api-key=\(hidden\): must be at least 8 characters/);
    expect(problems(["--api-key", "short7"])).not.toContain("short7");
    expect(problems(["--api-key", KEY, "--api-key-file", join(dir, "key")])).toMatch(/not both/);
  });

  it("warns in the banner when it listens beyond this machine without a key", async () => {
    const open = await startTestSidecar(fake.url, ["--host", "0.0.0.0"]);
    const keyed = await startTestSidecar(fake.url, ["--host", "0.0.0.0", "--api-key", KEY]);
    try {
      expect(open.banner).toMatch(/WARNING: listening on 0\.0\.0\.0 without --api-key/);
      expect(keyed.banner).not.toMatch(/WARNING/);
    } finally {
      await open.close();
      await keyed.close();
    }
  });
});

describe("a real llama-server started with its own --api-key", () => {
  const UPSTREAM_KEY = "sk-llama-8d2e41b0";
  let llama: LlamaServer;
  let s: TestSidecar;
  beforeAll(async () => {
    llama = await startLlamaServer({ extraArgs: ["--api-key", UPSTREAM_KEY] });
    s = await startTestSidecar(llama.url, ["--upstream-api-key", UPSTREAM_KEY, "--api-key", KEY]);
  });
  afterAll(async () => {
    await s?.close();
    await llama?.stop();
  });

  it("is monitored, scraped, forwarded to and counted exactly, with its key and never the client's", async () => {
    // Without its key llama-server refuses: the sidecar's own calls carry it.
    expect((await fetch(`${llama.url}/v1/models`)).status).toBe(401);
    expect(s.running.monitor.status.state).toBe("online");
    await s.running.scraper.scrape();
    expect(s.running.scraper.view.ok).toBe(true);
    const before = await idleCounters(llama.url, UPSTREAM_KEY);
    const auth = { "x-api-key": KEY, "content-type": "application/json" };
    const chat = await fetch(`${s.url}/v1/chat/completions`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "tiny", max_tokens: 6, messages: [{ role: "user", content: "count me" }] }),
    });
    expect(chat.status).toBe(200);
    await chat.text();
    const counted = await fetch(`${s.url}/v1/messages/count_tokens`, {
      method: "POST",
      headers: auth,
      body: messageBody,
    });
    expect(counted.status).toBe(200);
    expect(((await counted.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    const msg = await fetch(`${s.url}/v1/messages`, { method: "POST", headers: auth, body: messageBody });
    expect(msg.status).toBe(200);
    await msg.text();
    await s.waitForRecords(3);
    const after = await idleCounters(llama.url, UPSTREAM_KEY);
    const totals = s.stats.totals();
    expect(totals.prompt).toBe(after.prompt - before.prompt);
    expect(totals.generated).toBe(after.predicted - before.predicted);
  });
});
