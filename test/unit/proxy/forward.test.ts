// The request path's orchestrator in process: forwardMiddleware with its dependencies passed in (a one-unit fleet
// made by hand, a scripted upstream on a real socket), its stages seen from the outside and in the record.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AdmissionQueue } from "../../../src/admission/queue.js";
import { errorBody, type Protocol, SidecarError } from "../../../src/errors.js";
import type { UpstreamFleet } from "../../../src/fleet/fleet.js";
import type { UpstreamUnit } from "../../../src/fleet/upstream-unit.js";
import { CacheForensics } from "../../../src/forensics/forensics.js";
import { SpeedForensics } from "../../../src/forensics/speed.js";
import { ParseScheduler } from "../../../src/observe/tap.js";
import { ActiveRequests } from "../../../src/proxy/active.js";
import { type ForwardDeps, forwardMiddleware, recordedAnswer } from "../../../src/proxy/forward.js";
import { RecordEvents } from "../../../src/record/events.js";
import { RecordQueue } from "../../../src/record/queue.js";
import type { JudgedRecord, RequestRecord } from "../../../src/record/request-record.js";
import { createUpstream } from "../../../src/upstream/client.js";
import { MessagesSupport } from "../../../src/upstream/messages-support.js";
import type { SidecarState } from "../../../src/wire/context.js";
import { BUILD, silent } from "../../support/records.js";
import { testTelemetry } from "../../support/sidecar.js";
import { assertRequestSpan } from "../../support/spans.js";
import { until } from "../../support/until.js";

type Script = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let script: Script;
let upstream: Server;
let upstreamUrl: string;
const seen: { path: string; body: string; closed: boolean }[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = "";
    const entry = { path: req.url ?? "", body, closed: false };
    seen.push(entry);
    res.on("close", () => {
      entry.closed = !res.writableFinished;
    });
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      entry.body = body;
      script(req, res, body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => upstream.close(() => r())));

interface Harness {
  url: string;
  recorded: RequestRecord[];
  judged: JudgedRecord[];
  spans: ReturnType<typeof testTelemetry>["exporter"];
  deps: ForwardDeps;
  close(): Promise<void>;
}
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
  seen.length = 0;
});

function unitAt(url: string): UpstreamUnit {
  return {
    name: "gpu",
    upstream: createUpstream(url, 30),
    queue: new AdmissionQueue({ limit: () => 1, maxQueued: 8, maxWaitMs: 5000 }),
    forensics: new CacheForensics(),
    speed: new SpeedForensics(),
    facts: () => ({ restarts: 0, nCtx: 4096, slots: 1 }),
    slotOf: () => 0,
    monitor: { check: async () => {} },
  } as unknown as UpstreamUnit;
}

/** The sidecar's request path alone, as app.ts wires it, on a real socket. */
async function start(url = upstreamUrl): Promise<Harness> {
  const unit = unitAt(url);
  const fleet = {
    units: [unit],
    primary: unit,
    hosts: [],
    choose: () => ({ units: [unit] }),
    served: () => {},
    refreshRouters: async () => {},
  } as unknown as UpstreamFleet;
  const { telemetry, exporter } = testTelemetry(() => ({ requests: {}, tokens: {}, background: {} }));
  const events = new RecordEvents(silent);
  const h: Omit<Harness, "url" | "close"> = { recorded: [], judged: [], spans: exporter, deps: undefined as never };
  events.recorded((r) => h.recorded.push(r)).judged((j) => h.judged.push(j));
  const deps: ForwardDeps = {
    fleet,
    telemetry,
    maxBodyBytes: 1 << 20,
    records: new RecordQueue(silent),
    recording: { telemetry, events, build: BUILD, primary: () => unit, logFailure: () => {} },
    parsing: new ParseScheduler(),
    active: new ActiveRequests(),
    logFailover: () => {},
    normalizeBillingHeader: true,
    promptProgress: false,
    countPrompt: async () => 10,
    policies: { title: "local", topic: "local", quota: "local", haiku: "forward" },
    translation: { mode: "never", support: new MessagesSupport() },
    captureContent: false,
    clientKeyIsOurs: false,
  };
  const app = new Koa<SidecarState>();
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err instanceof SidecarError ? err : new SidecarError("internal", String(err));
      const protocol: Protocol = ctx.state.protocol ?? "openai";
      if (ctx.res.headersSent) return void ctx.res.destroy();
      ctx.status = e.status;
      ctx.body = errorBody(e, protocol);
    }
  });
  app.use((ctx, next) =>
    ctx.path === "/v1/messages/count_tokens" ? recordedAnswer(deps, ctx, async () => "tiny") : next(),
  );
  app.use(forwardMiddleware(deps));
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((r) => server.once("listening", () => r()));
  const harness: Harness = {
    ...h,
    deps,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await unit.upstream.close();
    },
  };
  open.push(harness);
  return harness;
}

const chunk = (content: string) => `data: {"choices":[{"delta":{"content":"${content}"}}]}\n\n`;
const post = (url: string, body: unknown, signal?: AbortSignal) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal });

describe("forwardMiddleware", () => {
  it("relays a stream as it came and records it before the client sees it end", async () => {
    const h = await start();
    let recordedAtEnd = -1;
    script = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk("Hel"));
      res.end(`${chunk("lo")}data: [DONE]\n\n`);
    };
    const res = await post(`${h.url}/v1/chat/completions`, { model: "tiny", stream: true, messages: [] });
    const text = await res.text();
    recordedAtEnd = h.recorded.length;
    expect(text).toBe(`${chunk("Hel")}${chunk("lo")}data: [DONE]\n\n`);
    expect(recordedAtEnd).toBe(1); // the last bytes waited for the record
    expect(h.recorded[0]).toMatchObject({
      route: "/v1/chat/completions",
      outcome: "ok",
      status: 200,
      upstream: "gpu",
      stream: true,
      concurrent: 1,
      outputTokens: 2,
    });
    expect(h.recorded[0]?.queueWaitMs).toBeGreaterThanOrEqual(0);
    await until("the request judged", () => h.judged.length === 1);
    assertRequestSpan(h.spans.getFinishedSpans()[0], { status: 200, outcome: "ok", name: "chat tiny" });
  });

  it("answers a background title call itself, as its policy says, and sends nothing upstream", async () => {
    const h = await start();
    script = () => {
      throw new Error("nothing should reach the upstream");
    };
    const res = await post(`${h.url}/v1/messages`, {
      model: "claude-haiku",
      max_tokens: 50,
      system: "Generate a concise, sentence-case title for this conversation.",
      messages: [{ role: "user", content: "fix the bug" }],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe("message");
    expect(seen).toHaveLength(0);
    expect(h.recorded[0]).toMatchObject({ outcome: "local", background: "title", backgroundPolicy: "local" });
  });

  it("tells an unreachable upstream in the client's protocol and records it as the upstream's failure", async () => {
    const h = await start("http://127.0.0.1:1");
    const res = await post(`${h.url}/v1/messages`, { model: "tiny", max_tokens: 5, messages: [] });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { type: string }).type).toBe("error"); // Anthropic's error shape
    expect(h.recorded[0]).toMatchObject({ outcome: "upstream_error", status: 502 });
    await until("its span", () => h.spans.getFinishedSpans().length === 1);
    assertRequestSpan(h.spans.getFinishedSpans()[0], { status: 502, outcome: "upstream_error" });
  });

  it("passes a client that leaves mid-stream on to the upstream, and records the abort", async () => {
    const h = await start();
    script = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk("one")); // and never ends
    };
    const leave = new AbortController();
    const res = await post(`${h.url}/v1/chat/completions`, { model: "tiny", stream: true, messages: [] }, leave.signal);
    const reader = res.body?.getReader();
    await reader?.read();
    leave.abort();
    await until("the upstream request closed", () => seen[0]?.closed === true);
    await until("the record", () => h.recorded.length === 1);
    expect(h.recorded[0]?.outcome).toBe("client_abort");
    expect(h.deps.active.view()).toEqual([]); // no longer shown as running
  });

  it("lowers no outcome to ok when the stream carried llama-server's error event", async () => {
    const h = await start();
    script = (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end('data: {"error":{"message":"Loading model","type":"unavailable_error"}}\n\n');
    };
    await (await post(`${h.url}/v1/chat/completions`, { model: "tiny", stream: true, messages: [] })).text();
    await until("the record", () => h.recorded.length === 1);
    expect(h.recorded[0]).toMatchObject({ outcome: "upstream_error", errorMessage: "Loading model" });
  });

  it("records an answer the sidecar makes with llama-server's help like a forwarded one", async () => {
    const h = await start();
    const res = await fetch(`${h.url}/v1/messages/count_tokens`, { method: "POST", body: "{}" });
    expect(res.status).toBe(404); // the answer set no body: Koa's own
    await until("the record", () => h.recorded.length === 1);
    expect(h.recorded[0]).toMatchObject({ route: "/v1/messages/count_tokens", model: "tiny", outcome: "ok" });
  });
});
