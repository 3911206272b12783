// Watches a response body go by without touching it: SSE events or a whole JSON body feed the Observation.
import type { Dialect } from "../wire/dialect.js";
import { parseObject } from "../wire/json.js";
import { isContentEvent, mustParse, readBody } from "./dialects.js";
import type { Observation } from "./observation.js";
import { SseDecoder, type SseEvent } from "./sse.js";

/** Bytes of a non-streamed JSON body kept on the side for parsing at the end; larger bodies go unread. */
const MAX_JSON_SIDE_COPY = 16 * 1024 * 1024;

export interface ResponseTap {
  push(chunk: Buffer): void;
  end(): void;
}

/** Long enough to let a burst pass: llama-server's batched decode sends every stream's token at once. */
const PARSE_DELAY_MS = 5;

/**
 * Taps with chunks waiting to be parsed: one timer parses them all, however many streams. The app makes one and
 * passes it in, so nothing is shared between apps (or tests) in one process.
 */
export class ParseScheduler {
  private due: { parsePending(): void }[] = [];

  constructor(private readonly delayMs = PARSE_DELAY_MS) {}

  schedule(tap: { parsePending(): void }): void {
    if (this.due.length === 0) setTimeout(this.parseDue, this.delayMs);
    this.due.push(tap);
  }

  private readonly parseDue = (): void => {
    const taps = this.due;
    this.due = [];
    for (const tap of taps) tap.parsePending();
  };
}

/**
 * Parsing waits a few milliseconds, so every chunk of a burst goes out to its client, and every request that
 * the burst's ends set off goes on to llama-server, before any is parsed. Each chunk keeps the time it went
 * out, so TTFT is exact all the same. Until then a chunk waits as a copy of its bytes: the chunk itself is a
 * slice of a socket read, which it would pin whole. The decoder, too, is made at the first parse, not when the
 * response starts.
 */
class SseTap implements ResponseTap {
  private decoder: SseDecoder | undefined;
  private seenContent = false;
  private pending: { bytes: Buffer; at: number }[] = [];
  /** When the chunk being parsed went out to the client. */
  private at = 0;

  constructor(
    private readonly dialect: Dialect,
    private readonly obs: Observation,
    private readonly now: () => number,
    private readonly scheduler: ParseScheduler,
  ) {}

  private onEvent(event: SseEvent): void {
    if (!mustParse(this.dialect, event, this.seenContent, this.obs.captured !== undefined)) {
      if (isContentEvent(this.dialect, event)) this.obs.content(this.at);
      return;
    }
    const body = parseObject(event.data);
    if (body && readBody(this.dialect, this.obs, body, event.event)) {
      this.seenContent = true;
      this.obs.content(this.at);
    }
  }

  push(chunk: Buffer): void {
    const at = this.now();
    if (this.pending.length === 0) this.scheduler.schedule(this);
    this.pending.push({ bytes: Buffer.from(chunk), at });
  }

  /** Parses what arrived so far; called from the shared timer, and by end(). */
  parsePending(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const decoder = this.decoder ?? new SseDecoder((e) => this.onEvent(e));
    this.decoder = decoder;
    for (const { bytes, at } of batch) {
      this.at = at;
      decoder.push(bytes);
    }
  }

  end(): void {
    this.parsePending();
    this.decoder?.end();
  }
}

class JsonTap implements ResponseTap {
  private readonly parts: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly dialect: Dialect,
    private readonly obs: Observation,
  ) {}

  push(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size <= MAX_JSON_SIDE_COPY) this.parts.push(chunk);
  }

  end(): void {
    if (this.size > MAX_JSON_SIDE_COPY) return;
    const body = parseObject(Buffer.concat(this.parts).toString("utf8"));
    if (!body) return;
    const type =
      this.dialect === "anthropic-messages" ? (typeof body.type === "string" ? body.type : undefined) : undefined;
    readBody(this.dialect, this.obs, body, type);
  }
}

export interface TapOptions {
  /** The clock each chunk's time is read from. */
  now: () => number;
  scheduler: ParseScheduler;
}

export function createTap(dialect: Dialect, contentType: string, obs: Observation, opts: TapOptions): ResponseTap {
  return contentType.includes("text/event-stream")
    ? new SseTap(dialect, obs, opts.now, opts.scheduler)
    : new JsonTap(dialect, obs);
}
