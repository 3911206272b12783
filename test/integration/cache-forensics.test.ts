// Cache-miss forensics against the real llama-server: each cause produced for real, then named by the sidecar.
import { mkdirSync, writeFileSync } from "node:fs";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordRow } from "../../src/record/request-record.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { ATTR, assertRequestSpan, expectSpanAttributes } from "../support/spans.js";

let llama: LlamaServer;
let sidecar: TestSidecar;

// One slot and no RAM prompt cache: what another conversation evicts is gone, as on a busy single-GPU box.
const LLAMA_ARGS = ["--cache-ram", "0"];

/** The sidecar's log lines, as a user at its terminal reads them. */
const logLines: string[] = [];

beforeAll(async () => {
  llama = await startLlamaServer({ parallel: 1, ctx: 8192, extraArgs: LLAMA_ARGS });
  const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(line) });
  sidecar = await startTestSidecar(
    llama.url,
    ["--normalize-billing-header", "false", "--health-interval", "0.2", "--scrape-interval", "1"],
    { logger },
  );
});
afterAll(async () => {
  // The lines the sidecar wrote about each miss, for a person to read (test-output/ is not committed).
  mkdirSync("test-output", { recursive: true });
  const misses = logLines.map((l) => JSON.parse(l).msg as string).filter((m) => m.startsWith("cache miss"));
  writeFileSync("test-output/cache-misses.log", `${misses.join("\n")}\n`);
  await sidecar?.close();
  await llama?.stop();
});

const header = (cch: string) => `x-anthropic-billing-header: cc_version=2.1.101.e51; cc_entrypoint=cli; cch=${cch};`;
const INSTRUCTIONS = "You are a careful coding agent working in a test repository. Answer briefly. ".repeat(12);
const TOOLS = [
  { name: "read_file", description: "Reads a file of the repository.", input_schema: { type: "object" } },
  { name: "run_tests", description: "Runs the test suite.", input_schema: { type: "object" } },
];

interface Turn {
  session: string;
  /** Anthropic Messages by default; OpenAI chat for what llama-server's Anthropic endpoint hides (below). */
  api?: "anthropic" | "openai";
  cch?: string;
  system?: string;
  tools?: object[];
  messages: string[];
  extra?: Record<string, unknown>;
}

function openaiBody(t: Turn) {
  return {
    model: "tiny",
    max_tokens: 4,
    messages: [
      { role: "system", content: `${header(t.cch ?? "00000")}\n${t.system ?? INSTRUCTIONS}` },
      ...t.messages.map((text, i) => ({ role: i % 2 ? "assistant" : "user", content: text })),
    ],
    tools: (t.tools ?? TOOLS).map((tool) => ({ type: "function", function: tool })),
    ...t.extra,
  };
}

function body(t: Turn) {
  if (t.api === "openai") return openaiBody(t);
  return {
    model: "tiny",
    max_tokens: 4,
    system: [
      { type: "text", text: header(t.cch ?? "00000") },
      { type: "text", text: t.system ?? INSTRUCTIONS },
    ],
    tools: t.tools ?? TOOLS,
    messages: t.messages.map((text, i) => ({ role: i % 2 ? "assistant" : "user", content: text })),
    ...t.extra,
  };
}

async function send(t: Turn): Promise<RecordRow> {
  const before = sidecar.records.length;
  const path = t.api === "openai" ? "/v1/chat/completions" : "/v1/messages";
  const res = await fetch(`${sidecar.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-claude-code-session-id": t.session },
    body: JSON.stringify(body(t)),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  await res.text();
  await sidecar.waitForRecords(before + 1);
  return sidecar.records[before] as RecordRow;
}

/** A first turn, then a second that goes on from it (the first message, a reply, a new message). */
const LONG_TASK = "Look at the failing test in the parser module and explain each step of your reasoning. ".repeat(12);
const turns = (session: string, second: Partial<Turn> = {}): [Turn, Turn] => {
  const api = second.api;
  return [
    { session, api, messages: [LONG_TASK] },
    { session, api, messages: [LONG_TASK, "Done.", "Now fix it."], ...second },
  ];
};

describe("cache-miss forensics", () => {
  it("reports no miss in a warm five-turn conversation", async () => {
    const history = ["Start."];
    const records: RecordRow[] = [];
    for (let n = 0; n < 5; n++) {
      records.push(await send({ session: "warm", messages: [...history] }));
      history.push(`Reply ${n}.`, `Next step ${n}.`);
    }
    expect(records[0]?.cacheExpectedTokens).toBeUndefined(); // nothing to compare the first turn with
    for (const r of records.slice(1)) {
      expect(r.missCause, JSON.stringify(r)).toBeUndefined();
      expect(r.cacheExpectedTokens).toBeGreaterThan(200);
      expect(r.cachedTokens).toBeGreaterThanOrEqual((r.cacheExpectedTokens ?? 0) - 8);
    }
  });

  // llama-server's own Anthropic endpoint leaves the billing header out of the prompt and ignores cache_prompt, so
  // those two are produced through its OpenAI endpoint, as a client that talks OpenAI to it would send them.
  it.each([
    [
      "a rotating billing header",
      { api: "openai", cch: "9f3a1" },
      "billing_header",
      /^messages\[0\] changed at characters \d+-\d+$/,
    ],
    [
      "a system block changed mid-text",
      { system: `${INSTRUCTIONS.slice(0, 412)}!${INSTRUCTIONS.slice(413)}` },
      "system_changed",
      /^system\[1\] changed at characters (\d+)-(\d+)$/,
    ],
    [
      "a tool added",
      {
        tools: [
          ...TOOLS.slice(0, 1),
          { name: "mcp__github__search", input_schema: { type: "object" } },
          ...TOOLS.slice(1),
        ],
      },
      "tools_changed",
      /^tools\[mcp__github__search\] added$/,
    ],
    [
      "an earlier message edited",
      { messages: [`Quickly: ${LONG_TASK}`, "Done.", "Now fix it."] },
      "history_edited",
      /^messages\[0\] changed at characters 0-\d+$/,
    ],
    [
      "cache_prompt: false",
      { api: "openai", extra: { cache_prompt: false } },
      "cache_disabled",
      /^cache_prompt: false$/,
    ],
  ])("names %s", async (_name, second, cause, where) => {
    const [a, b] = turns(`s-${cause}`, second as Partial<Turn>);
    await send(a);
    const r = await send(b);
    expect(r.missCause, JSON.stringify(r)).toBe(cause);
    expect(r.missLocation).toMatch(where);
    expect(r.cacheLostTokens).toBeGreaterThan(0);
    const line = logLines
      .map((l) => JSON.parse(l).msg as string)
      .findLast((m) => m.startsWith(`cache miss (${cause})`));
    expect(line).toContain(r.missLocation ?? "");
    expect(line).toContain(`${r.cacheLostTokens} of ${r.cacheExpectedTokens} prompt tokens`);
    const span = sidecar.spans().findLast((s) => s.attributes[ATTR.CACHE_MISS_CAUSE] !== undefined);
    expectSpanAttributes(span, {
      [ATTR.CACHE_MISS_CAUSE]: cause,
      [ATTR.CACHE_MISS_LOCATION]: r.missLocation,
      [ATTR.CACHE_LOST_TOKENS]: r.cacheLostTokens,
      [ATTR.CACHE_EXPECTED_TOKENS]: r.cacheExpectedTokens,
    });
    if (cause === "system_changed") {
      const [, from, to] = where.exec(r.missLocation ?? "") ?? [];
      expect(Number(from)).toBeLessThanOrEqual(412);
      expect(Number(to)).toBeGreaterThanOrEqual(412);
    }
  });

  it("names the other conversation that took the only slot in between", async () => {
    const [a, b] = turns("alternating-a");
    await send(a);
    await send({
      session: "alternating-b",
      system: "A different agent with its own instructions. ".repeat(10),
      messages: ["Hello."],
    });
    const r = await send(b);
    expect(r.missCause, JSON.stringify(r)).toBe("other_conversation");
    expect(r.missLocation).toBe("conversation s:alternating-b ran in between on slot 0");
  });

  it("names a prompt longer than the slot's context, with both sizes", async () => {
    await send({ session: "overflow", messages: ["Start."] });
    const before = sidecar.records.length;
    const huge = Array.from({ length: 2000 }, (_, i) => `w${i}`).join(" "); // about 10,000 tokens > n_ctx 8192
    const res = await fetch(`${sidecar.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-claude-code-session-id": "overflow" },
      body: JSON.stringify(body({ session: "overflow", messages: ["Start.", "Ok.", huge] })),
    });
    // Anthropic's own error for a prompt over the window, which Claude Code answers by compacting.
    expect(res.status).toBe(400);
    const error = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(error).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(error.error.message).toMatch(/^prompt is too long: \d{5} tokens > 8192 maximum$/);
    await sidecar.waitForRecords(before + 1);
    const r = sidecar.records[before] as RecordRow;
    expect(r.missCause).toBe("context_overflow");
    expect(r.missLocation).toMatch(/^prompt \d{5} tokens > n_ctx 8192$/);
    assertRequestSpan(
      sidecar.spans().at(-1),
      { status: 400, outcome: "upstream_error" },
      { [ATTR.CACHE_MISS_CAUSE]: "context_overflow" },
    );

    // The official Anthropic SDK sees Anthropic's own error for it.
    const anthropic = new Anthropic({ baseURL: sidecar.url, apiKey: "local" });
    const tooLong = await anthropic.messages
      .create({ model: "tiny", max_tokens: 4, messages: [{ role: "user", content: huge }] })
      .catch((e: unknown) => e);
    expect(tooLong).toBeInstanceOf(Anthropic.BadRequestError);
    expect((tooLong as InstanceType<typeof Anthropic.BadRequestError>).error).toEqual({
      type: "error",
      error: {
        type: "invalid_request_error",
        message: expect.stringMatching(/^prompt is too long: \d{4,5} tokens > 8192 maximum$/),
      },
    });

    // An OpenAI client gets OpenAI's code for it, through the official SDK.
    const openai = new OpenAI({ baseURL: `${sidecar.url}/v1`, apiKey: "local" });
    const failed = await openai.chat.completions
      .create({ model: "tiny", max_tokens: 4, messages: [{ role: "user", content: huge }] })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(OpenAI.BadRequestError);
    expect((failed as InstanceType<typeof OpenAI.BadRequestError>).code).toBe("context_length_exceeded");
    expect((failed as Error).message).toMatch(
      /maximum context length is 8192 tokens\. However, your messages resulted in \d{5} tokens/,
    );
  });

  it("names llama-server's restart between two turns", async () => {
    const [a, b] = turns("restart");
    await send(a);
    const restarts = sidecar.stats.doc.upstreams.default?.restartCount ?? 0;
    const port = llama.port;
    await llama.stop();
    llama = await startLlamaServer({ parallel: 1, ctx: 8192, port, extraArgs: LLAMA_ARGS });
    const deadline = Date.now() + 20_000;
    while (sidecar.stats.doc.upstreams.default?.restartCount === restarts && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(sidecar.stats.doc.upstreams.default?.restartCount).toBe(restarts + 1);
    const r = await send(b);
    expect(r.missCause, JSON.stringify(r)).toBe("server_restarted");
  });

  it("counts misses by cause on /metrics and lists them in /api/stats, without prompt text", async () => {
    const metrics = await sidecar.metrics();
    expect(metrics).toMatch(/llama_sidecar_cache_misses_total\{upstream="default",cause="billing_header"\} 1/);
    expect(metrics).toMatch(/llama_sidecar_cache_misses_total\{upstream="default",cause="unknown"\} 0/);
    expect(metrics).toMatch(
      /llama_sidecar_cache_lost_prefill_tokens_total\{upstream="default",cause="tools_changed"\} [1-9]/,
    );
    // Generation speed by context band, with the requests' own bands: these prompts are under 4k tokens, one at a time.
    const banded = metrics
      .split("\n")
      .filter((l) => l.startsWith("llama_sidecar_generation_tokens_per_second_by_context_count{"));
    expect(banded.some((l) => l.includes('depth="<4k"') && l.includes('decoding="1"') && / [1-9]\d*$/.test(l))).toBe(
      true,
    );
    const stats = (await (await fetch(`${sidecar.url}/api/stats`)).json()) as {
      cache: { misses: { cause: string; location?: string }[] };
    };
    expect(stats.cache.misses.map((m) => m.cause)).toEqual(
      expect.arrayContaining(["billing_header", "system_changed", "tools_changed", "other_conversation"]),
    );
    const text = JSON.stringify(stats.cache);
    expect(text).not.toContain("failing test");
    expect(text).not.toContain("parser module");
    expect(text).not.toContain("careful coding agent");
  });
});

describe("cache-miss forensics on a llama-server with two slots", () => {
  let two: LlamaServer;
  let side: TestSidecar;
  beforeAll(async () => {
    two = await startLlamaServer({ parallel: 2, ctx: 8192, extraArgs: LLAMA_ARGS });
    const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(line) });
    side = await startTestSidecar(two.url, ["--health-interval", "0.2"], { logger });
  });
  afterAll(async () => {
    await side?.close();
    await two?.stop();
  });

  const chat = (messages: string[], extra: object = {}) =>
    fetch(`${side.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-claude-code-session-id": "moving" },
      body: JSON.stringify({ ...openaiBody({ session: "moving", api: "openai", messages }), ...extra }),
    }).then((r) => r.text());

  it("names the other slot a turn landed on, told from llama-server's /slots", async () => {
    await chat([LONG_TASK], { id_slot: 0 }); // the conversation's first turn, on slot 0
    await side.waitForRecords(1);
    // Its verdict (and then its span) waits for the scrape the turn sets off, which reads which slot served it.
    await expect.poll(() => side.spans().length).toBe(1);
    // Another client keeps slot 0 busy (pinned there), so llama-server gives the next turn slot 1.
    const blocker = fetch(`${side.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id_slot: 0, max_tokens: 1500, messages: [{ role: "user", content: "Go on at length." }] }),
    }).then((r) => r.text());
    await expect
      .poll(async () => ((await (await fetch(`${side.url}/api/requests/active`)).json()) as object[]).length)
      .toBe(1);
    side.clearRecords();
    await chat([LONG_TASK, "Done.", "Now fix it."]);
    const [turn] = await side.waitForRecords(1);
    // With several slots the verdict waits for llama-server's /slots: the record is judged a moment later.
    await expect.poll(() => turn?.missCause).toBe("different_slot");
    expect(turn?.missLocation).toBe("slot 1; the conversation's last turn ran on slot 0");
    await blocker;
  });
});
