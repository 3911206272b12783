// Prompt progress: asked for by a splice of the body, stripped from the client's stream in any split and line ending.
import { describe, expect, it } from "vitest";
import {
  askProgress,
  ProgressStripper,
  type PromptProgress,
  readProgress,
  shouldAskProgress,
} from "../../../src/proxy/prompt-progress.js";
import { SseFramer } from "../../../src/proxy/sse-framing.js";

const progressEvent = (processed: number, total = 300, eol = "\n") =>
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk","prompt_progress":{"total":${total},"cache":100,"processed":${processed},"time_ms":${processed}}}${eol}${eol}`;
const contentEvent = (text: string, eol = "\n") =>
  `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"${text}"}}],"object":"chat.completion.chunk"}${eol}${eol}`;

/** Runs a stream through framer and stripper, cut into pieces of `size` bytes; returns what the client got. */
function strip(stream: string, size: number): { out: string; reports: PromptProgress[] } {
  const reports: PromptProgress[] = [];
  const framer = new SseFramer();
  const stripper = new ProgressStripper(
    (p) => reports.push(p),
    () => 0,
  );
  const bytes = Buffer.from(stream, "utf8");
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const out = stripper.pass(framer.push(bytes.subarray(at, at + size)));
    if (out) parts.push(out);
  }
  const rest = framer.rest();
  if (rest) parts.push(rest);
  return { out: Buffer.concat(parts).toString("utf8"), reports };
}

describe("asking for progress", () => {
  it("splices the field into the body's object, which stays the same JSON otherwise", () => {
    const raw = Buffer.from(' {"model":"m","stream":true,"messages":[{"role":"user","content":"é {x}"}]}');
    const asked = JSON.parse(askProgress(raw).toString("utf8"));
    expect(asked).toEqual({ return_progress: true, ...JSON.parse(raw.toString("utf8")) });
  });

  it("asks only on streams of routes whose reports are whole events, and never over the client's own choice", () => {
    expect(shouldAskProgress("openai-chat", { stream: true })).toBe(true);
    expect(shouldAskProgress("openai-completion", { stream: true })).toBe(true);
    expect(shouldAskProgress("llama-completion", { stream: true })).toBe(true);
    expect(shouldAskProgress("openai-chat", { stream: false })).toBe(false);
    expect(shouldAskProgress("openai-chat", {})).toBe(false);
    expect(shouldAskProgress("openai-chat", { stream: true, return_progress: false })).toBe(false);
    expect(shouldAskProgress("openai-chat", { stream: true, return_progress: true })).toBe(false);
    // llama-server's Anthropic stream carries no reports; the Responses API puts them on events it needs.
    expect(shouldAskProgress("anthropic-messages", { stream: true })).toBe(false);
    expect(shouldAskProgress("openai-responses", { stream: true })).toBe(false);
  });

  it("reads a report, and nothing from an event without one", () => {
    expect(readProgress({ prompt_progress: { total: 10, cache: 2, processed: 5, time_ms: 7 } }, 3)).toEqual({
      total: 10,
      cache: 2,
      processed: 5,
      timeMs: 7,
      at: 3,
    });
    expect(readProgress({ choices: [] }, 0)).toBeUndefined();
    expect(readProgress({ prompt_progress: { total: "x", processed: 1 } }, 0)).toBeUndefined();
  });
});

describe("stripping the reports", () => {
  for (const eol of ["\n", "\r\n", "\r"]) {
    const without = `${contentEvent("he", eol)}${contentEvent("llo", eol)}data: [DONE]${eol}${eol}`;
    const withReports = `${progressEvent(100, 300, eol)}${progressEvent(200, 300, eol)}${progressEvent(300, 300, eol)}${without}`;
    for (const size of [1, 2, 7, 64, 100_000]) {
      it(`gives the client the stream it gets without reports (${JSON.stringify(eol)}, ${size}-byte pieces)`, () => {
        const { out, reports } = strip(withReports, size);
        expect(out).toBe(without);
        expect(reports.map((r) => r.processed)).toEqual([100, 200, 300]);
      });
    }
  }

  it("keeps content that rode on a report, without the report, where it stands in a stream without reports", () => {
    // An assistant turn prefilled with a tool call: llama-server emits the call's delta with the 0% report, then
    // announces the role again at the first token.
    const role =
      'data: {"choices":[{"delta":{"role":"assistant","content":null}}],"object":"chat.completion.chunk"}\n\n';
    const call = (report: string) =>
      `data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}}],"object":"chat.completion.chunk"${report}}\n\n`;
    const report = (n: number) => `,"prompt_progress":{"total":9,"cache":0,"processed":${n},"time_ms":1}`;
    const roleWithReport = role.replace("}\n\n", `${report(9)}}\n\n`);
    const end = 'data: {"choices":[{"delta":{},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n';
    const withReports = `${role.replace("}\n\n", `${report(0)}}\n\n`)}${call(report(0))}${roleWithReport}${role}${end}`;
    const without = `${role}${call("")}${end}`;
    for (const size of [1, 5, 100_000]) {
      const { out, reports } = strip(withReports, size);
      expect(out).toBe(without);
      expect(reports.map((r) => r.processed)).toEqual([0, 0, 9]);
      // As llama-server sends it: the first partial's role announcement carries no report, its content does.
      const real = strip(`${role}${call(report(0))}${roleWithReport}${role}${end}`, size);
      expect(real.out).toBe(without);
      expect(real.reports.map((r) => r.processed)).toEqual([0, 9]);
    }
  });

  it("keeps order at the end: what waited comes out before an unfinished last event", () => {
    const framer = new SseFramer();
    const stripper = new ProgressStripper(() => {});
    const role = 'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}\n\n';
    expect(stripper.pass(framer.push(Buffer.from(`${role}data: {"x":1}`)))).toBeUndefined();
    const last = stripper.pass(framer.rest());
    expect(`${last?.toString("utf8")}${stripper.rest()}`).toBe(`${role}data: {"x":1}`);
  });

  it("gives held content to a client whose stream ended before its first token", () => {
    const stripper = new ProgressStripper(() => {});
    const event = 'data: {"content":"x","prompt_progress":{"total":2,"cache":0,"processed":0,"time_ms":0}}\n\n';
    expect(stripper.pass(Buffer.from(event))).toBeUndefined();
    expect(stripper.rest()).toBe('data: {"content":"x"}\n\n');
  });

  it("stops looking at the first event without a report: later text that names the field passes", () => {
    const later = contentEvent('\\"prompt_progress\\"');
    const { out, reports } = strip(`${progressEvent(5)}${contentEvent("a")}${later}`, 100_000);
    expect(out).toBe(`${contentEvent("a")}${later}`);
    expect(reports).toHaveLength(1);
  });

  it("keeps an event that names the field without a readable report", () => {
    const odd = 'data: {"prompt_progress":"soon"}\n\n';
    expect(strip(`${odd}${contentEvent("a")}`, 3).out).toBe(`${odd}${contentEvent("a")}`);
  });
});
