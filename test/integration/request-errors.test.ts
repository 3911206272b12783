// What a client gets for its own mistakes and for llama-server's: the right status, blamed on the right side,
// in the client's protocol, logged at debug when the client caused it, and nothing forwarded that should not be.

import { connect } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeLlama, fromClients, startFakeLlama } from "../support/fake-llama.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";

let fake: FakeLlama;
let sidecar: TestSidecar;
const logs: { level: number; msg: string }[] = [];

beforeAll(async () => {
  fake = await startFakeLlama();
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  sidecar = await startTestSidecar(fake.url, ["--max-body-mb", "1"], { logger: pino({ level: "debug" }, sink) });
});
afterAll(async () => {
  await sidecar?.close();
  await fake?.close();
});

/** One raw HTTP/1.1 exchange: the request line and headers exactly as given. */
function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const url = new URL(sidecar.url);
    const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
    let out = "";
    socket.on("data", (b) => {
      out += b;
    });
    socket.on("end", () => resolve(out));
    socket.on("error", reject);
    setTimeout(() => socket.end(), 1500);
  });
}

const anthropicBody = JSON.stringify({ model: "tiny", max_tokens: 4, messages: [{ role: "user", content: "hi" }] });

describe("request lines and methods", () => {
  it("refuses an absolute-form target with 400, in the route's protocol, forwarding nothing", async () => {
    fake.seen.length = 0;
    const answer = await raw(
      `POST http://evil.example/v1/messages HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\nContent-Length: ${anthropicBody.length}\r\nConnection: close\r\n\r\n${anthropicBody}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(answer).toContain('"type":"error"');
    expect(answer).toContain("not a forward proxy");
    expect(fromClients(fake)).toHaveLength(0);
  });

  it("answers OPTIONS * itself: no upstream call, no error counted", async () => {
    fake.seen.length = 0;
    sidecar.clearRecords();
    const answer = await raw("OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 204/);
    expect(answer).toMatch(/Allow: GET, HEAD, POST, OPTIONS/i);
    expect(fromClients(fake)).toHaveLength(0);
    expect(await sidecar.metrics()).not.toMatch(/outcome="upstream_error"/);
  });

  for (const [path, protocol] of [
    ["/metrics", "openai"],
    ["/api/stats", "openai"],
    ["/dashboard", "openai"],
    ["/v1/messages/count_tokens", "anthropic"],
  ] as const) {
    it(`answers PROPFIND ${path} with 405 and Allow, in the ${protocol} protocol`, async () => {
      const answer = await raw(`PROPFIND ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(answer).toMatch(/^HTTP\/1\.1 405/);
      expect(answer).toMatch(/Allow: [A-Z, ]+/i);
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
      if (protocol === "anthropic")
        expect(body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
      else expect(body).toMatchObject({ error: { code: "method_not_allowed" } });
    });
  }

  it("refuses a method llama-server has no route for, before it reaches llama-server", async () => {
    fake.seen.length = 0;
    const res = await fetch(`${sidecar.url}/v1/chat/completions`, { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, POST, OPTIONS");
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("invalid_request_error");
    expect(fromClients(fake)).toHaveLength(0);
  });
});

describe("bodies", () => {
  it("lets a client finish sending an over-limit body and read its 413, every time", async () => {
    // Chunked, so the sidecar finds the body too large while it is still arriving (a declared length is refused
    // before a byte is read): closing then would cut the client off mid-send (EPIPE) instead of answering it.
    const big = Buffer.alloc(65 * 1024 * 1024, 0x61);
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const body = new ReadableStream({
        start(c) {
          for (let at = 0; at < big.length; at += 1 << 20) c.enqueue(new Uint8Array(big.subarray(at, at + (1 << 20))));
          c.close();
        },
      });
      try {
        const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
          method: "POST",
          body,
          duplex: "half",
          headers: { "content-type": "application/json" },
        } as RequestInit);
        answers.push(String(res.status));
        await res.text();
      } catch (err) {
        answers.push(String((err as { cause?: { code?: string } }).cause?.code ?? err));
      }
    }
    expect(answers).toEqual(Array(20).fill("413"));
  });

  it("takes a client that leaves mid-body as the client's doing: logged at debug, not as an error", async () => {
    const before = logs.length;
    await new Promise<void>((resolve) => {
      const url = new URL(sidecar.url);
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"messages":',
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 100);
      });
    });
    await sidecar.waitForRecords(1);
    await new Promise((r) => setTimeout(r, 100));
    const errors = logs.slice(before).filter((l) => l.level >= 40);
    expect(errors).toEqual([]);
  });
});

describe("llama-server's faults", () => {
  it("a whole Anthropic answer cut by llama-server is a 502 upstream error, in Anthropic's shape", async () => {
    const translating = await startTestSidecar(fake.url, ["--translate", "always"]);
    try {
      const res = await fetch(`${translating.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fake-fault": "die-mid-body" },
        body: anthropicBody,
      });
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ type: "error", error: { type: "api_error" } });
      const [r] = await translating.waitForRecords(1);
      expect(r).toMatchObject({ outcome: "upstream_error", status: 502 });
    } finally {
      await translating.close();
    }
  });
});

describe("translation mode", () => {
  it("stays off when a request 404s for its own reasons (a trailing slash), and the 404 is Anthropic's", async () => {
    fake.seen.length = 0;
    const res = await fetch(`${sidecar.url}/v1/messages/`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: anthropicBody,
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } });
    const next = await fetch(`${sidecar.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: anthropicBody,
    });
    expect(next.status).toBe(200);
    await next.text();
    // Still llama-server's own /v1/messages, not translated to chat completions.
    expect(fromClients(fake).map((s) => s.path)).toEqual(["/v1/messages/", "/v1/messages"]);
    const [, second] = await sidecar.waitForRecords(2);
    expect(second?.translated).toBeUndefined();
  });

  it("is re-checked when llama-server comes back from a restart with another build", async () => {
    const other = await startFakeLlama();
    const s = await startTestSidecar(other.url);
    try {
      const send = () =>
        fetch(`${s.url}/v1/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: anthropicBody,
        }).then((r) => r.text());
      await send();
      expect(fromClients(other).at(-1)?.path).toBe("/v1/messages");
      // Restarted as a build without /v1/messages: loading, then online again.
      other.state = "loading";
      await new Promise((r) => setTimeout(r, 1200));
      other.missing = new Set(["/v1/messages"]);
      other.state = "online";
      await new Promise((r) => setTimeout(r, 1200));
      await send();
      expect(fromClients(other).at(-1)?.path).toBe("/v1/chat/completions");
    } finally {
      await s.close();
      await other.close();
    }
  });
});
