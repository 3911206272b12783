// Each session's last finished turn, and what of it runs now, for the status line.
import { describe, expect, it } from "vitest";
import type { RequestRecord } from "../../../src/record/request-record.js";
import { Sessions } from "../../../src/stats/sessions.js";
import { requestRecord } from "../../support/records.js";

const record = (over: Partial<RequestRecord>): RequestRecord => ({ ...requestRecord(300, 40), ...over });

describe("Sessions", () => {
  it("keeps each named session's last model turn, not background calls or failures", () => {
    const s = new Sessions();
    s.recorded(
      record({ session: "a", prefillTokens: 100, cachedTokens: 900, outputTokens: 50, ttftMs: 300, decodeTps: 40 }),
    );
    s.recorded(record({ session: "a", background: "title", prefillTokens: 5 }));
    s.recorded(record({ session: "a", outcome: "upstream_error", prefillTokens: 7 }));
    s.recorded(record({ prefillTokens: 1 })); // no session
    expect(s.view("a", [], { state: "online", nCtx: 4096 })).toMatchObject({
      requests: 1,
      contextUsed: 1050,
      nCtx: 4096,
      cacheReuse: 0.9,
      ttftMs: 300,
      decodeTps: 40,
      upstream: "online",
    });
    expect(s.view("b", [], { state: "online" })).toBeUndefined();
  });

  it("shows a session's turn waiting in the queue with its place", () => {
    const s = new Sessions();
    const queued = (session: string) => ({
      route: "/v1/messages",
      client: "claude-code",
      session,
      phase: "queued" as const,
      elapsedMs: 1,
      generated: 0,
    });
    const view = s.view("mine", [queued("other"), queued("mine")], { state: "online" });
    expect(view?.now).toEqual({ phase: "queued", queuePosition: 2, progress: undefined });
    // A background call of the session running beside it is not its turn.
    const title = { ...queued("mine"), phase: "generating" as const, background: "title" };
    expect(s.view("mine", [title, queued("mine")], { state: "online" })?.now?.phase).toBe("queued");
  });
});
