// Incremental SSE decoding for observation: bytes in any split (mid-line, mid-UTF-8, CRLF or LF), events out.
import { createParser, type EventSourceMessage, type EventSourceParser } from "eventsource-parser";

export type SseEvent = EventSourceMessage;

export class SseDecoder {
  // The stream-mode decoder holds back an incomplete UTF-8 sequence until its remaining bytes arrive.
  private readonly text = new TextDecoder("utf-8");
  private readonly parser: EventSourceParser;
  private endsWithCr = false;

  constructor(onEvent: (event: SseEvent) => void) {
    this.parser = createParser({ onEvent });
  }

  /** Bytes in any split; an incomplete UTF-8 sequence at the end waits for the next chunk. */
  push(chunk: Uint8Array): void {
    this.feed(this.text.decode(chunk, { stream: true }));
  }

  private feed(s: string): void {
    if (!s) return;
    this.endsWithCr = s.endsWith("\r");
    this.parser.feed(s);
  }

  /**
   * Ends the stream. An event that lacked its blank line (a server that closed mid-event) is dropped, as the SSE
   * specification says: its data may be cut anywhere, and a half JSON object counts nothing.
   */
  end(): void {
    this.feed(this.text.decode());
    // A final bare CR is a complete line ending, but the parser waits to see if LF follows: tell it none will.
    if (this.endsWithCr) this.parser.feed("\n");
    this.parser.reset({ consume: true });
  }
}
