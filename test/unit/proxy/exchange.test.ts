// An exchange as it begins: its route, client and clocks from the request, and the session a client names.
import { describe, expect, it } from "vitest";
import { begin, promptOf, sessionKeyOf } from "../../../src/proxy/exchange.js";
import type { SidecarContext } from "../../../src/wire/context.js";

const ctx = (path: string, headers: Record<string, string> = {}) =>
  ({ path, method: "POST", req: { headers } }) as unknown as SidecarContext;

describe("begin", () => {
  it("reads the route and client from the request, and starts both clocks", () => {
    const before = Date.now();
    const ex = begin(ctx("/v1/messages", { "user-agent": "claude-cli/2.1.197 (external, cli)" }));
    expect(ex.route).toMatchObject({ label: "/v1/messages", operation: "chat", protocol: "anthropic" });
    expect(ex.client).toBe("claude-code");
    expect(ex.startedAt).toBeGreaterThanOrEqual(before);
    expect(ex.obs.receivedAt).toBe(ex.receivedAt); // one clock for the exchange and what it observes
    expect(ex).toMatchObject({ method: "POST", status: 0, tags: {} });
    expect(ex.cancel.aborted).toBe(false);
  });

  it("gives a path the sidecar does not know a bounded label, and no operation", () => {
    const ex = begin(ctx("/some/thing/else"));
    expect(ex.route.label).toBe("other");
    expect(ex.route.operation).toBeUndefined();
  });
});

describe("the session a request names", () => {
  it("is Claude Code's session header, else the body's prompt_cache_key, cut to 256 characters", () => {
    expect(sessionKeyOf({ "x-claude-code-session-id": "abc" }, { prompt_cache_key: "k" })).toBe("abc");
    expect(sessionKeyOf({}, { prompt_cache_key: "k".repeat(300) })).toBe("k".repeat(256));
    expect(sessionKeyOf({ "x-claude-code-session-id": "x".repeat(257) }, {})).toBeUndefined();
    expect(sessionKeyOf({ "x-claude-code-session-id": "" }, { prompt_cache_key: 5 })).toBeUndefined();
  });

  it("is kept with the parsed body for the cache verdict", () => {
    const ex = begin(ctx("/v1/messages", { "x-claude-code-session-id": "s1" }));
    const body = { model: "m", messages: [] };
    expect(promptOf(ex, body)).toEqual({ body, sessionKey: "s1" });
  });
});
