// Prompt progress: the sidecar asks llama-server to report prefill progress on the streams it forwards
// (`return_progress`) and strips those reports from what the client receives, unless the client asked for them.
import { performance } from "node:perf_hooks";
import { asFiniteNumber, asObject, type JsonObject, parseObject } from "../wire/json.js";
import { firstEventEnd } from "./sse-framing.js";

/** llama-server's prompt_progress object (result_prompt_progress::to_json), with when it arrived. */
export interface PromptProgress {
  /** Prompt tokens in all. */
  total: number;
  /** Of them, reused from the cache. */
  cache: number;
  /** Of them, in the slot so far (cached ones included). */
  processed: number;
  /** Since the slot took the request. */
  timeMs: number;
  /** performance.now() when the report arrived. */
  at: number;
}

/** For a stream without reports (proxy/prefill-estimate.ts): its prompt's size and the speed it is estimated at. */
export interface PrefillEstimate {
  /** The prompt's tokens, exactly. */
  total: number;
  /** llama-server's prefill speed as last measured (tokens/s), when known. */
  prefillTps?: number;
}

/** Routes whose streamed answers carry a progress report as an event of its own, which can be dropped whole. */
const REPORTING_DIALECTS = new Set(["openai-chat", "openai-completion", "llama-completion"]);

/**
 * Whether to ask for progress on this request: a stream, on a route whose reports can be stripped, whose client
 * did not ask for them itself (then they are its own, left in). llama-server builds without the field ignore it.
 */
export function shouldAskProgress(dialect: string | undefined, body: JsonObject): boolean {
  return (
    dialect !== undefined && REPORTING_DIALECTS.has(dialect) && body.stream === true && !("return_progress" in body)
  );
}

const FIELD = Buffer.from('"return_progress":true,');

/**
 * The body with `"return_progress":true` put first in its object: a splice of bytes, not a new serialisation, so
 * a large prompt costs one copy. Only a non-empty object (a model call always names its messages or prompt).
 */
export function askProgress(raw: Buffer): Buffer {
  const open = raw.indexOf(0x7b); // "{"
  if (open < 0) return raw;
  return Buffer.concat([raw.subarray(0, open + 1), FIELD, raw.subarray(open + 1)], raw.length + FIELD.length);
}

/** Reads a progress report out of an event's data, or undefined when it carries none. */
export function readProgress(data: JsonObject, at: number): PromptProgress | undefined {
  const p = asObject(data.prompt_progress);
  if (!p) return undefined;
  const total = asFiniteNumber(p.total);
  const processed = asFiniteNumber(p.processed);
  if (total === undefined || processed === undefined) return undefined;
  return { total, processed, cache: asFiniteNumber(p.cache) ?? 0, timeMs: asFiniteNumber(p.time_ms) ?? 0, at };
}

const MARK = Buffer.from('"prompt_progress"');
/** llama-server's role announcement in a chat stream (server-task.cpp: a delta of role and a null content). */
const ROLE_ONLY = Buffer.from('"delta":{"role":"assistant","content":null}');
const LF = 0x0a;
const CR = 0x0d;

/** The JSON of an SSE event's data lines (llama-server writes one `data:` line per event). */
function eventData(event: Buffer): JsonObject | undefined {
  const text = event.toString("utf8");
  const start = text.indexOf("data:");
  return start < 0 ? undefined : parseObject(text.slice(start + 5).trim());
}

/** Whether an event's data carries anything besides the role announcement: text, reasoning, a tool call. */
export function carriesContent(data: JsonObject): boolean {
  const choice = asObject(Array.isArray(data.choices) ? data.choices[0] : undefined);
  const delta = asObject(choice?.delta);
  if (delta) return Object.entries(delta).some(([k, v]) => k !== "role" && v !== null && v !== "");
  const text = choice ? choice.text : data.content;
  return typeof text === "string" && text !== "";
}

/** llama-server appends the report as the object's last member, numbers only: cut it out, byte for byte. */
const REPORT_MEMBER = /,"prompt_progress":\{[^{}]*\}/;

/**
 * Takes llama-server's progress reports out of a stream of whole SSE events, handing each on, so the client gets
 * the stream it gets without asking. Each report comes in a partial answer of its own: an event that announces the
 * role, then (for the first report, when the prompt ends in content the parser already emits, such as an assistant
 * turn prefilled with a tool call) an event with that content, the report on the last of them. Without reports
 * the same content comes after the first token's role announcement. So an announcement waits until the next event
 * says whose it is (a report's: dropped; the first token's: sent), content that rode on a report is sent, without
 * the report, after the first token's announcement, and reports are dropped. They come only before the first
 * token: after it every event passes untouched, without a look.
 */
export class ProgressStripper {
  private done = false;
  /** An event without content or report, not yet known to belong to a report or to the first token. */
  private pending: Buffer | undefined;
  /** Content that rode on a report, without it, for after the first token's announcement. */
  private held: Buffer[] = [];
  /** The last event dropped or kept back ended in CR at a chunk's end: an LF that comes next is its own. */
  private cr: "dropped" | "pending" | undefined;

  constructor(
    private readonly onProgress: (p: PromptProgress) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whole events in, the ones the client gets out (undefined when none). */
  pass(whole: Buffer | undefined): Buffer | undefined {
    if (this.done || !whole) return whole;
    let events = whole;
    if (this.cr && events[0] === LF) {
      if (this.cr === "pending" && this.pending) this.pending = Buffer.concat([this.pending, events.subarray(0, 1)]);
      events = events.subarray(1);
    }
    this.cr = undefined;
    const out: Buffer[] = [];
    for (let start = 0; start < events.length; ) {
      const end = firstEventEnd(events, start);
      const event = events.subarray(start, end);
      start = end;
      if (this.done) out.push(event);
      else {
        const kept = this.take(event, out);
        if (kept !== "sent" && end === events.length && events[end - 1] === CR) this.cr = kept;
      }
    }
    return out.length === 0 ? undefined : Buffer.concat(out);
  }

  /** What is kept back when the stream ended before its first token: the client still gets it. */
  rest(): string {
    const rest = Buffer.concat([...(this.pending ? [this.pending] : []), ...this.held]).toString("utf8");
    this.pending = undefined;
    this.held = [];
    return rest;
  }

  /** One event before the first token: dropped (a report), kept back (an announcement) or sent with what waited. */
  private take(event: Buffer, out: Buffer[]): "dropped" | "pending" | "sent" {
    const data = event.indexOf(MARK) >= 0 ? eventData(event) : undefined;
    const progress = data && readProgress(data, this.now());
    if (data && progress) {
      this.onProgress(progress);
      this.pending = undefined; // the announcement was the report's
      if (carriesContent(data)) this.held.push(Buffer.from(event.toString("utf8").replace(REPORT_MEMBER, "")));
      return "dropped";
    }
    // Every stream's first event is told by its bytes, not parsed: only reports are.
    if (!this.pending && event.indexOf(ROLE_ONLY) >= 0) {
      this.pending = event;
      return "pending";
    }
    out.push(...(this.pending ? [this.pending] : []), ...this.held, event);
    this.pending = undefined;
    this.held = [];
    this.done = true;
    return "sent";
  }
}
