// SIGKILLs during streaming traffic: the per-request ledger and the request log hold every request the clients saw
// complete. A request is counted before its last bytes go out (so none a client saw is ever lost); one whose last
// bytes were still in the process's socket buffer at the kill is counted without its client having read them: at
// most one per kill.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { openStats } from "../../src/stats/service.js";
import { LogDb } from "../../src/store/log-db.js";
import { startCli } from "../support/cli-process.js";
import { fixture, startFakeLlama } from "../support/fake-llama.js";
import { freePort } from "../support/llama-server.js";

const KILLS = 10;
const CLIENTS = 4;

const fakeReady = startFakeLlama();
afterAll(async () => (await fakeReady).close());

/** One client: streams chat completions until the sidecar goes away; counts the answers it read to their end. */
async function client(url: string, stop: { now: boolean }): Promise<number> {
  let complete = 0;
  while (!stop.now) {
    try {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fake-gap-ms": "1" },
        body: JSON.stringify({ model: "tiny", stream: true, messages: [{ role: "user", content: "hi" }] }),
      });
      const body = await res.text(); // throws if the connection is cut before the response's last byte
      if (res.status === 200 && body.includes("[DONE]")) complete++;
    } catch {
      return complete; // the sidecar died under us: whatever was in flight did not complete
    }
  }
  return complete;
}

const prefillPerAnswer = Number(/"prompt_n":(\d+)/.exec(fixture("post-v1-chat-completions-stream").body)?.[1]);

describe("a sidecar killed mid-stream, ten times", () => {
  it("keeps every request its clients saw complete, and at most the one in flight at each kill besides", async () => {
    const fake = await fakeReady;
    const dataDir = mkdtempSync(join(tmpdir(), "llama-sidecar-crash-"));
    let seen = 0;
    for (let round = 0; round < KILLS; round++) {
      const port = await freePort();
      const cli = startCli(["--upstream", fake.url, "--port", String(port), "--data-dir", dataDir]);
      await cli.waitFor(/Proxy URL/);
      const stop = { now: false };
      const clients = Array.from({ length: CLIENTS }, () => client(`http://127.0.0.1:${port}`, stop));
      await new Promise((r) => setTimeout(r, 300 + ((round * 137) % 500)));
      cli.proc.kill("SIGKILL");
      stop.now = true;
      for (const n of await Promise.all(clients)) seen += n;
      await cli.stop();
    }
    expect(seen).toBeGreaterThan(KILLS * CLIENTS);
    const stats = await openStats(dataDir, pino({ level: "silent" }));
    const totals = stats.totals();
    expect(totals.requests).toBeGreaterThanOrEqual(seen);
    expect(totals.requests - seen).toBeLessThanOrEqual(KILLS);
    expect(totals.prompt).toBe(totals.requests * prefillPerAnswer);
    // The request log keeps the same promise: a start replays what the last kill left in its journal.
    const port = await freePort();
    const last = startCli(["--upstream", fake.url, "--port", String(port), "--data-dir", dataDir]);
    await last.waitFor(/Proxy URL/);
    await last.stop();
    const log = new LogDb(dataDir, { readonly: true });
    const logged = log.count();
    log.close();
    expect(logged).toBeGreaterThanOrEqual(seen);
    expect(logged).toBe(totals.requests);
  });
});
