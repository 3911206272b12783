// The record floor end to end, in process: a finished exchange is recorded once, frozen, published as recorded and
// then judged (with its verdicts as new values), and its span ends with what both say.
import { SpanStatusCode } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { CacheForensics } from "../../../src/forensics/forensics.js";
import { SpeedForensics } from "../../../src/forensics/speed.js";
import { Observation } from "../../../src/observe/observation.js";
import { RecordEvents } from "../../../src/record/events.js";
import type { ExchangeFacts, ServerNow, ServingUnit } from "../../../src/record/exchange-facts.js";
import { finishExchange, type RecordDeps } from "../../../src/record/finish.js";
import { countVerdicts } from "../../../src/record/judged-metrics.js";
import type { JudgedRecord, RequestRecord } from "../../../src/record/request-record.js";
import type { TaskNumbers } from "../../../src/scrape/scraper.js";
import { BUILD, exchangeFacts, silent } from "../../support/records.js";
import { testTelemetry } from "../../support/sidecar.js";
import { ATTR, assertRequestSpan } from "../../support/spans.js";

function unit(slotOf: (r: TaskNumbers) => number | undefined | Promise<number | undefined> = () => 0): ServingUnit {
  const facts: ServerNow = { restarts: 0, nCtx: 4096, slots: 1 };
  return {
    name: "gpu",
    upstream: { url: new URL("http://127.0.0.1:8080") },
    forensics: new CacheForensics(),
    speed: new SpeedForensics(),
    facts: () => facts,
    slotOf,
  };
}

function recording(u: ServingUnit) {
  const { telemetry, exporter } = testTelemetry(() => ({ requests: {}, tokens: {}, background: {} }));
  const events = new RecordEvents(silent);
  const failures: unknown[] = [];
  const deps: RecordDeps = { telemetry, events, build: BUILD, primary: () => u, logFailure: (e) => failures.push(e) };
  const heard: { recorded: RequestRecord[]; judged: JudgedRecord[] } = { recorded: [], judged: [] };
  events.recorded((r) => heard.recorded.push(r)).judged((j) => heard.judged.push(j));
  return { deps, heard, exporter, failures, telemetry };
}

/** A chat turn that went well: its prompt, its usage as the answer gave it, its content times. */
function turn(messages: string[], prefill: number, cached: number): ExchangeFacts {
  const obs = new Observation(0);
  obs.setUsage({ prefill, cached, generated: 20 });
  obs.content(100);
  obs.content(500);
  const body = {
    model: "tiny",
    messages: messages.map((content, i) => ({ role: i % 2 ? "assistant" : "user", content })),
  };
  return exchangeFacts(obs, { model: { model: "tiny", stream: true }, prompt: { body, sessionKey: "s1" } });
}

describe("finishExchange", () => {
  it("publishes a frozen record at once and its verdicts later, as a new value carrying the same record", () => {
    const u = unit();
    const { deps, heard, exporter } = recording(u);
    const judge = finishExchange(deps, turn(["Hello there, how are you?"], 300, 0), "ok", 700);
    expect(heard.recorded).toHaveLength(1);
    expect(heard.judged).toHaveLength(0); // the verdicts wait until the response's end is out
    const record = heard.recorded[0] as RequestRecord;
    expect(Object.isFrozen(record)).toBe(true);
    expect(() => {
      (record as { outcome: string }).outcome = "rejected";
    }).toThrow(TypeError);
    expect(record).toMatchObject({ outcome: "ok", prefillTokens: 300, cachedTokens: 0, outputTokens: 20 });
    judge();
    expect(heard.judged).toHaveLength(1);
    const judged = heard.judged[0] as JudgedRecord;
    expect(judged.record).toBe(record);
    expect(Object.isFrozen(judged)).toBe(true);
    expect(judged.upstream).toBe("gpu");
    const [span] = exporter.getFinishedSpans();
    assertRequestSpan(span, { status: 200, outcome: "ok", name: "chat tiny" }, { [ATTR.PREFILL_TOKENS]: 300 });
  });

  it("judges a turn whose prompt changed as a miss, and says so on the span and in the counters", async () => {
    const u = unit();
    const { deps, heard, exporter, telemetry } = recording(u);
    deps.events.judged((j) => countVerdicts(telemetry.state, j));
    const first = ["You are a careful assistant. ".repeat(40), "Sure.", "Now the second question."];
    finishExchange(deps, turn(first, 600, 0), "ok", 700)();
    // The system text edited at its start: all of it processed again.
    const edited = ["You are a careless assistant. ".repeat(40), "Sure.", "Now the second question.", "Ok.", "More."];
    finishExchange(deps, turn(edited, 640, 0), "ok", 700)();
    const judged = heard.judged[1] as JudgedRecord;
    expect(judged.cache?.cause).toBeDefined();
    expect(judged.cache?.lostTokens).toBeGreaterThan(0);
    expect(judged.record.prefillTokens).toBe(640); // the record itself stays as it was published
    const span = exporter.getFinishedSpans()[1];
    assertRequestSpan(span, { status: 200, outcome: "ok" }, { [ATTR.CACHE_MISS_CAUSE]: judged.cache?.cause });
    const misses = await telemetry.state.registry.getSingleMetric("llama_sidecar_cache_misses_total")?.get();
    expect(misses?.values.find((v) => v.labels.cause === judged.cache?.cause)?.value).toBe(1);
    expect(u.forensics.recentMisses.at(-1)?.cause).toBe(judged.cache?.cause);
  });

  it("waits for the slot that served a turn where llama-server must be asked, and judges it then", async () => {
    let answer: (slot: number | undefined) => void = () => {};
    const asked = new Promise<number | undefined>((resolve) => {
      answer = resolve;
    });
    const { deps, heard, exporter } = recording(unit(() => asked));
    finishExchange(deps, turn(["Hi"], 10, 0), "ok", 700)();
    expect(heard.judged).toHaveLength(0);
    expect(exporter.getFinishedSpans()).toHaveLength(0); // the span waits for the verdict
    answer(1);
    await expect.poll(() => heard.judged.length).toBe(1);
    expect(exporter.getFinishedSpans()).toHaveLength(1);
  });

  it("puts a prompt refused as too long down to context_overflow, from the sizes it carries", () => {
    const u = unit();
    const { deps, heard, exporter } = recording(u);
    const facts = turn(["Hi"], 0, 0);
    const obs = new Observation(0);
    obs.errorMessage = "prompt is too long: 9000 tokens > 4096 maximum";
    const refused = { ...facts, obs, status: 400, overflow: { promptTokens: 9000, nCtx: 4096 } };
    finishExchange(deps, refused, "upstream_error", 50)();
    const judged = heard.judged[0] as JudgedRecord;
    expect(judged.record.overflow).toEqual({ promptTokens: 9000, nCtx: 4096 });
    expect(judged.cache).toEqual({ cause: "context_overflow", location: "prompt 9000 tokens > n_ctx 4096" });
    const [span] = exporter.getFinishedSpans();
    assertRequestSpan(span, { status: 400, outcome: "upstream_error" });
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("tells every listener, even when one before it throws", () => {
    const u = unit();
    const { deps, heard } = recording(u);
    const events = new RecordEvents(silent);
    const later: RequestRecord[] = [];
    events
      .recorded(() => {
        throw new Error("a broken view");
      })
      .recorded((r) => later.push(r));
    finishExchange({ ...deps, events }, turn(["Hi"], 10, 0), "ok", 700);
    expect(later).toHaveLength(1);
    expect(heard.recorded).toHaveLength(0); // another hub's listeners hear nothing of it
  });

  it("counts a client that left as no service error, on the record and the span", () => {
    const { deps, heard, exporter } = recording(unit());
    const facts = turn(["Hi"], 10, 0);
    finishExchange(deps, { ...facts, status: 499 }, "client_abort", 300)();
    expect(heard.recorded[0]?.outcome).toBe("client_abort");
    expect(heard.judged[0]?.cache).toBeUndefined(); // a turn that did not finish says nothing of the cache
    assertRequestSpan(exporter.getFinishedSpans()[0], { status: 499, outcome: "client_abort" });
  });
});
