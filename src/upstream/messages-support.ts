// Whether a llama-server has the Anthropic Messages API: found out by asking it, never from one client's request.
import { asObject, parseObject } from "../wire/json.js";
import { callUpstream, type Upstream } from "./client.js";

/** What llama-server answers, with 404, for a path it has no handler for (its HTTP server's error handler). */
export function isRouteNotFound(status: number, body: string): boolean {
  if (status !== 404) return false;
  return asObject(parseObject(body)?.error)?.message === "File Not Found";
}

/**
 * A request's own 404 (a trailing slash, an unknown model in router mode) says nothing about the server: only the
 * sidecar's own probe, POST /v1/messages with an empty object, does. A server with the route refuses the empty
 * request (400 or 500); one without it answers its not-found 404. Re-asked after every restart, since a
 * restart may bring another build.
 */
export class MessagesSupport {
  private readonly known = new Map<Upstream, boolean>();
  private readonly asking = new Map<Upstream, Promise<boolean | undefined>>();

  /** True once a probe found the route missing on this server. */
  lacks(upstream: Upstream): boolean {
    return this.known.get(upstream) === false;
  }

  /**
   * Asks the server (one probe at a time per server); resolves true if it has the route, false if not, and
   * undefined if it could not be asked (unreachable): then what was known stands.
   */
  probe(upstream: Upstream): Promise<boolean | undefined> {
    let pending = this.asking.get(upstream);
    if (!pending) {
      pending = this.ask(upstream).finally(() => this.asking.delete(upstream));
      this.asking.set(upstream, pending);
    }
    return pending;
  }

  private async ask(upstream: Upstream): Promise<boolean | undefined> {
    try {
      const reply = await callUpstream(upstream, "/v1/messages", { json: {}, timeoutMs: 10_000 });
      const has = !isRouteNotFound(reply.status, reply.text);
      this.known.set(upstream, has);
      return has;
    } catch {
      return undefined;
    }
  }
}
