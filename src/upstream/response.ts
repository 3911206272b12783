// One request to llama-server whose answer is read through undici's raw dispatch callbacks: every token of
// every stream passes here, and a Readable per response (push, buffer, 'data' event) cost more than the rest of
// the relay together.
import type { Dispatcher } from "undici";
import type { Cancellation } from "../cancellation.js";

/** Where a body's chunks go once somebody reads it: exactly one of end or error follows the data. */
export interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

export type ResponseHeaders = Record<string, string | string[] | undefined>;

export interface UpstreamResponse {
  statusCode: number;
  headers: ResponseHeaders;
  body: UpstreamBody;
}

type Controller = Dispatcher.DispatchController;

/**
 * Bytes held for want of a reader before the socket is paused. The reader attaches a few microtasks after the
 * headers, and the first chunk (llama-server's role delta) usually arrives with them: holding it without a
 * pause-resume round trip through undici saves every request a few microseconds on its way in.
 */
export const HOLD_WITHOUT_PAUSE_BYTES = 64 * 1024;

/**
 * A response body, read once. Chunks that arrive before a reader attaches are held, the socket paused past
 * HOLD_WITHOUT_PAUSE_BYTES, so nothing is lost between the headers and the reader.
 */
export class UpstreamBody {
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Paused for want of a reader. */
  private holdPaused = false;
  private sink: BodySink | undefined;
  private ended = false;
  private failure: Error | undefined;
  /** The reader asked for a pause (its client is slow); a pause for want of a reader does not count. */
  private readerPaused = false;

  constructor(private readonly controller: Controller) {}

  /** Hands every held and future chunk to `sink`, then its end or error. */
  read(sink: BodySink): void {
    if (this.sink) throw new Error("an upstream body can be read only once");
    this.sink = sink;
    const held = this.held;
    this.held = [];
    for (const chunk of held) sink.data(chunk);
    if (this.failure) sink.error(this.failure);
    else if (this.ended) sink.end();
    else if (this.holdPaused && !this.readerPaused) this.controller.resume();
    this.holdPaused = false;
  }

  /** Stops reading from llama-server's socket until resume(): backpressure from a slow client. */
  pause(): void {
    this.readerPaused = true;
    this.controller.pause();
  }

  resume(): void {
    this.readerPaused = false;
    this.controller.resume();
  }

  /** Abandons the response: the connection closes, and with it llama-server's slot is freed. */
  destroy(): void {
    if (!this.ended && !this.failure && !this.controller.aborted) {
      this.controller.abort(new Error("response abandoned by the sidecar"));
    }
  }

  /** The whole body as UTF-8 text. */
  text(): Promise<string> {
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      this.read({
        data: (chunk) => parts.push(chunk),
        end: () => resolve(Buffer.concat(parts).toString("utf8")),
        error: reject,
      });
    });
  }

  /** Reads the body to its end and drops it, so the connection can be reused. */
  dump(): Promise<void> {
    return new Promise((resolve) => this.read({ data: () => {}, end: resolve, error: () => resolve() }));
  }

  /** @internal from the dispatch handler */
  onData(chunk: Buffer): void {
    if (this.sink) {
      this.sink.data(chunk);
      return;
    }
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes > HOLD_WITHOUT_PAUSE_BYTES && !this.holdPaused) {
      this.holdPaused = true;
      this.controller.pause();
    }
  }

  /** @internal */
  onEnd(): void {
    this.ended = true;
    this.sink?.end();
  }

  /** @internal */
  onError(err: Error): void {
    this.failure = err;
    this.sink?.error(err);
  }
}

export interface UpstreamRequest {
  origin: string;
  path: string;
  method: Dispatcher.HttpMethod;
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** The client went away: stop, at whatever stage the request is. */
  cancel: Cancellation;
}

const clientLeft = () => Object.assign(new Error("the client closed the connection"), { name: "AbortError" });

/**
 * Errors that mean a pooled keep-alive connection was already dead (llama-server restarted, or closed it as idle
 * just as it was taken) before any response came back: nothing came back and the body is a buffer, so sending once
 * more on a fresh connection is safe, and spares the caller a 502.
 */
const STALE_CONNECTION = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE", "UND_ERR_CLOSED"]);

/**
 * Sends a request; resolves with status and headers as soon as they arrive, the body still to come. Every call to
 * llama-server goes through here (forwarded requests, count_tokens, the sidecar's own calls), so each gets one more
 * try on a connection that turns out dead.
 */
export async function dispatchUpstream(dispatcher: Dispatcher, req: UpstreamRequest): Promise<UpstreamResponse> {
  try {
    return await dispatchOnce(dispatcher, req);
  } catch (err) {
    if (req.cancel.aborted || !STALE_CONNECTION.has((err as { code?: string }).code ?? "")) throw err;
    return dispatchOnce(dispatcher, req);
  }
}

function dispatchOnce(dispatcher: Dispatcher, req: UpstreamRequest): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let body: UpstreamBody | undefined;
    let controller: Controller | undefined;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (req.cancel.aborted) c.abort(clientLeft());
      },
      onResponseStart(c, statusCode, headers) {
        body = new UpstreamBody(c);
        resolve({ statusCode, headers: headers as ResponseHeaders, body });
      },
      onResponseData: (_c, chunk) => body?.onData(chunk),
      onResponseEnd() {
        done();
        body?.onEnd();
      },
      onResponseError(_c, err) {
        done();
        if (body) body.onError(err);
        else reject(err);
      },
    };
    const done = req.cancel.onAbort(() => controller?.abort(clientLeft()));
    const { origin, path, method, headers, body: payload } = req;
    dispatcher.dispatch({ origin, path, method, headers, body: payload }, handler);
  });
}
