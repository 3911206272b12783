// A fake llama-server that replays responses recorded from the real one, with controllable timing and faults.
//
// Per-request control travels in headers the sidecar forwards untouched:
//   x-fake-prefill-ms   delay before the first generated event (the role delta comes before it)
//   x-fake-gap-ms       delay between later events
//   x-fake-fault        "die-mid-stream" | "die-mid-event" | "error-event" | "hang" | "reset-before-headers" |
//                       "echo-error" (a 500 quoting the request back, as llama-server's "Missing 'role' in message: {…}")
//                       "echo-plain" (a 400 repeating the prompt's words without quotes, "cannot tokenize <prompt>")
//                       "die-mid-body" (a whole JSON answer cut halfway)
//   x-fake-repeat       repeat the content events N times (long streams)
//   x-fake-hold         after the first generated event, wait until release() is called
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { Fixture } from "../../scripts/record-fixtures.js";

export type { Fixture };

export const FIXTURES: Fixture[] = JSON.parse(
  readFileSync(new URL("../fixtures/llama-server.json", import.meta.url), "utf8"),
);

export function fixture(name: string): Fixture {
  const f = FIXTURES.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return f;
}

/** A transform giving llama-server's answer timings of `tps` over 100 generated tokens (for speed verdicts). */
export const timingsAt =
  (tps: number) =>
  (body: string): string =>
    body
      .replace(/"predicted_n":\d+/, '"predicted_n":100')
      .replace(/"predicted_ms":[\d.]+/, `"predicted_ms":${100_000 / tps}`)
      .replace(/"predicted_per_second":[\d.]+/, `"predicted_per_second":${tps}`)
      .replace(/"completion_tokens":\d+/, '"completion_tokens":100');

/** Splits a recorded SSE body into its events, each with its trailing blank line. */
export function sseEvents(body: string): string[] {
  return body.split(/(?<=\n\n)/).filter((e) => e.trim().length > 0);
}

/** Counters a fake llama-server reports, in the older /metrics format (no cached counter, no start-time header). */
export interface FakeCounters {
  prompt_tokens_total: number;
  prompt_seconds_total: number;
  tokens_predicted_total: number;
  tokens_predicted_seconds_total: number;
  n_decode_total: number;
}

/**
 * The recorded /metrics of the real llama-server, turned into an older build's: without
 * prompt_tokens_cached_total (and, in the response, without Process-Start-Time-Unix), with the given values.
 */
function olderFormatMetrics(c: FakeCounters): string {
  const families = fixture("get-metrics").body.split(/(?=# HELP )/);
  return families
    .filter((f) => !f.includes("llamacpp:prompt_tokens_cached_total"))
    .map((f) => {
      const name = /^# HELP llamacpp:(\S+)/.exec(f)?.[1] as keyof FakeCounters | undefined;
      return name && name in c ? f.replace(new RegExp(`^(llamacpp:${name}) .*$`, "m"), `$1 ${c[name]}`) : f;
    })
    .join("");
}

export interface FakeLlama {
  url: string;
  server: Server;
  /**
   * Requests seen, with how each ended on the fake's side; `own` marks the sidecar's own calls (health, props,
   * metrics, its /v1/messages probe), which it makes with its own user agent.
   */
  seen: { path: string; headers: IncomingMessage["headers"]; body: string; closedEarly: boolean; own: boolean }[];
  state: "online" | "loading";
  /** When set, /metrics serves these counters in the older format instead of the recording. */
  counters?: FakeCounters;
  /** When set, /metrics serves this text as it is. */
  rawMetrics?: string;
  /** Paths answered with 404, like a build without that API. */
  missing?: Set<string>;
  /** Rewrites each recorded body before it is sent (bad values, odd shapes). */
  transform?: (body: string) => string;
  /** Cut this many of the next requests' connections before answering (a restarted server's stale sockets). */
  resetNext?: number;
  /** Lets streams held by x-fake-hold continue. */
  release(): void;
  /** Resolves when a held stream has sent its first generated event. */
  held: Promise<void>;
  close(): Promise<void>;
}

interface Hold {
  reached: () => void;
  gate: Promise<void>;
}

const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

function pick(method: string, path: string, body: string): Fixture | undefined {
  let stream = false;
  try {
    stream = JSON.parse(body || "{}").stream === true;
  } catch {
    // not JSON: match by path only
  }
  const p = path.split("?")[0];
  return FIXTURES.find(
    (f) =>
      f.request.method === method &&
      f.request.path === p &&
      ((f.request.body as { stream?: boolean })?.stream === true) === stream,
  );
}

async function streamEvents(
  hold: Hold,
  req: IncomingMessage,
  res: ServerResponse,
  f: Fixture,
  body: string,
): Promise<void> {
  const alive = () => !res.destroyed;
  const prefill = Number(req.headers["x-fake-prefill-ms"] ?? 0);
  const gap = Number(req.headers["x-fake-gap-ms"] ?? 0);
  const repeat = Number(req.headers["x-fake-repeat"] ?? 1);
  const fault = req.headers["x-fake-fault"];
  let events = sseEvents(body);
  // OpenAI chat streams open with a role-only delta, flushed before prefill ends.
  const firstGen = f.request.path === "/v1/chat/completions" ? 1 : 0;
  if (repeat > 1) {
    const tailStart =
      events.length - (f.request.path === "/v1/messages" ? 4 : f.request.path === "/completion" ? 1 : 2);
    const middle = events.slice(firstGen + 2, tailStart);
    events = [
      ...events.slice(0, firstGen + 2),
      ...Array.from({ length: repeat }, () => middle).flat(),
      ...events.slice(tailStart),
    ];
  }
  res.writeHead(f.status, f.headers);
  res.flushHeaders();
  for (let i = 0; i < events.length; i++) {
    if (!alive()) return;
    if (i === firstGen) await sleep(prefill);
    else if (i > firstGen) await sleep(gap);
    if (fault === "die-mid-stream" && i === firstGen + 2) {
      res.socket?.destroy();
      return;
    }
    if (fault === "die-mid-event" && i === firstGen + 2) {
      // Half an event reaches the wire, then the connection is gone: the sidecar must not splice its error in.
      const event = events[i] ?? "";
      res.write(event.slice(0, Math.floor(event.length / 2)), () => res.socket?.destroy());
      return;
    }
    if (fault === "error-event" && i === firstGen + 2) {
      // An error told in-band, as llama-server does once the headers are out; the response itself ends cleanly.
      return void res.end('data: {"error":{"code":500,"message":"boom mid-stream","type":"server_error"}}\n\n');
    }
    res.write(events[i]);
    if (i === firstGen && req.headers["x-fake-hold"]) {
      hold.reached();
      await hold.gate;
    }
  }
  res.end();
}

/** What reached a fake from clients through the sidecar, not the sidecar's own calls. */
export const fromClients = (fake: FakeLlama) => fake.seen.filter((s) => !s.own);

export async function startFakeLlama(): Promise<FakeLlama> {
  const fake: FakeLlama = {
    url: "",
    server: undefined as unknown as Server,
    seen: [],
    state: "online",
    release: () => {},
    held: Promise.resolve(),
    close: async () => {},
  };
  const hold: Hold = { reached: () => {}, gate: Promise.resolve() };
  fake.held = new Promise<void>((r) => {
    hold.reached = r;
  });
  hold.gate = new Promise<void>((r) => {
    fake.release = r;
  });
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const own = String(req.headers["user-agent"] ?? "").startsWith("llama-sidecar/");
    const entry = { path: req.url ?? "", headers: req.headers, body, closedEarly: false, own };
    fake.seen.push(entry);
    res.on("close", () => {
      if (!res.writableFinished) entry.closedEarly = true;
    });
    const fault = req.headers["x-fake-fault"];
    if (fault === "reset-before-headers") return void req.socket.destroy();
    if (fake.resetNext && req.method === "POST") {
      fake.resetNext--;
      return void req.socket.destroy();
    }
    if (fault === "hang") return;
    if (fault === "echo-error") {
      res.writeHead(500, { "content-type": "application/json; charset=utf-8" });
      const message = `Failed to parse messages: Missing 'role' in message: ${body}`;
      return void res.end(JSON.stringify({ error: { code: 500, message, type: "server_error" } }));
    }
    if (fault === "echo-plain") {
      res.writeHead(400, { "content-type": "application/json; charset=utf-8" });
      const words = body
        .replace(/[^\w -]+/g, " ")
        .replace(/\s+/g, " ")
        .trim();
      const message = `cannot tokenize ${words}`;
      return void res.end(JSON.stringify({ error: { code: 400, message, type: "invalid_request_error" } }));
    }
    if (fake.state === "loading") {
      res.writeHead(503, { "content-type": "application/json" });
      return void res.end('{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}');
    }
    if (fake.rawMetrics !== undefined && req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain" });
      return void res.end(fake.rawMetrics);
    }
    if (fake.counters && req.url === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      return void res.end(olderFormatMetrics(fake.counters));
    }
    const f = fake.missing?.has((req.url ?? "").split("?")[0] ?? "")
      ? undefined
      : pick(req.method ?? "GET", req.url ?? "/", body);
    if (!f) {
      res.writeHead(404, { "content-type": "application/json" });
      return void res.end('{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}');
    }
    const answer = fake.transform ? fake.transform(f.body) : f.body;
    if (f.headers["content-type"]?.includes("text/event-stream")) {
      await streamEvents(hold, req, res, f, answer);
    } else {
      await sleep(Number(req.headers["x-fake-prefill-ms"] ?? 0));
      if (fault === "die-mid-body") {
        res.writeHead(f.status, { ...f.headers, "content-length": String(Buffer.byteLength(answer)) });
        return void res.write(answer.slice(0, answer.length >> 1), () => res.socket?.destroy());
      }
      res.writeHead(f.status, f.headers);
      res.end(answer);
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  fake.server = server;
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return fake;
}
