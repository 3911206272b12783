// The request log's file as the sidecar holds it: really closed when idle (no descriptor left behind, which would
// keep a disk from being remounted read-only), and captured bodies redacted and capped on their way in.
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LOG_FILE } from "../../../src/store/log-db.js";
import { LogFile } from "../../../src/store/log-file.js";
import { freshDir, logRow } from "../../support/records.js";
import { until } from "../../support/until.js";

const openHere = (file: string) =>
  readdirSync("/proc/self/fd").some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === file;
    } catch {
      return false;
    }
  });

const row = (id: string) => logRow({ id });

describe("the request log's file", () => {
  it("lets go of its descriptor once closed, statements and all", async () => {
    const dir = freshDir();
    const file = new LogFile(dir, { patterns: [], secrets: [], maxBytes: 1000 });
    file.insert([row("a")]);
    expect(file.use((db) => db.session("s")).map((r) => r.id)).toEqual(["a"]);
    expect(openHere(join(dir, LOG_FILE))).toBe(true);
    file.close();
    await until("the descriptor to be released", () => !openHere(join(dir, LOG_FILE)));
    // And opens again on the next use.
    expect(file.use((db) => db.count())).toBe(1);
    file.close();
  });

  it("redacts and caps captured bodies before they are kept", () => {
    const file = new LogFile(freshDir(), { patterns: ["hunter\\d"], secrets: ["the-sidecar-key-123"], maxBytes: 40 });
    file.insert([row("a")], [{ id: "a", request: "pw hunter2 key the-sidecar-key-123", response: "y".repeat(100) }]);
    const kept = file.use((db) => db.content("a"));
    expect(kept?.request).toBe("pw [redacted] key [redacted]");
    expect(kept?.response).toMatch(/^y{40}\n\[… 60 bytes left out\]$/);
    file.close();
  });
});
