// A data dir written by the sidecar before upstream lists (stats format 1, one llama-server, recorded from that
// build: five requests, two llama-server restarts, then a crash leaving two requests in its journal) is read and
// carried on by this one: nothing lost, nothing counted twice, and migrated once.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idleCounters } from "../support/llama-metrics.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { until } from "../support/until.js";

const FIXTURE = new URL("../fixtures/data-dir-v1/", import.meta.url).pathname;

let llama: LlamaServer;
beforeAll(async () => {
  llama = await startLlamaServer({ ctx: 2048 });
});
afterAll(async () => {
  await llama?.stop();
});

async function sidecarOn(dir: string, args: string[]): Promise<{ sidecar: TestSidecar; lines: string[] }> {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (l: string) => lines.push(l) });
  const sidecar = await startTestSidecar(undefined, ["--data-dir", dir, "--scrape-interval", "1", ...args], { logger });
  return { sidecar, lines };
}

describe("a data dir from before upstream lists", () => {
  it("is migrated to the first upstream once, every total carried on, the journal replayed once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sidecar-v1-"));
    cpSync(FIXTURE, dir, { recursive: true });
    const old = JSON.parse(readFileSync(join(dir, "stats.json"), "utf8"));
    expect(old.version).toBe(1);
    // A config file whose first upstream is the llama-server the old sidecar watched.
    const config = join(dir, "sidecar.yaml");
    writeFileSync(
      config,
      `upstreams:\n  - { name: gpu0, url: "${llama.url}" }\n  - { name: gpu1, url: "http://127.0.0.1:9" }\n`,
    );

    const first = await sidecarOn(dir, ["--config", config]);
    const migrated = first.lines.map((l) => JSON.parse(l).msg as string).filter((m) => m.includes("migrated"));
    expect(migrated).toEqual([`${join(dir, "stats.json")}: migrated from format 1, every total kept`]);
    const doc = first.sidecar.stats.doc;
    expect(doc.version).toBe(2);
    expect(doc.since).toBe(old.since);
    // Two restarts in the old file, and one now: this llama-server is another process than the one it last saw.
    expect(doc.upstreams.gpu0?.restartCount).toBe(3);
    // The five folded requests and the two the crash left in the journal, each once.
    expect(first.sidecar.stats.totals()).toMatchObject({ requests: 7, prompt: 73 + 20 + 11, generated: 42 });
    expect(doc.sidecar.background).toEqual({ "quota|local|local": 1 });
    // The old request counts, folded and journaled alike, are now the first upstream's.
    expect(doc.sidecar.requests).toEqual({ "/v1/chat/completions|tiny|other|ok|gpu0": 7 });

    const res = await fetch(`${first.sidecar.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", max_tokens: 5, messages: [{ role: "user", content: "after the move" }] }),
    });
    expect(res.status).toBe(200);
    const now = await idleCounters(llama.url);
    // A new llama-server process: the old incarnation's final counters are banked, the new one's added.
    const expected = { prompt: 73 + now.prompt, predicted: 30 + now.predicted };
    const life = () => first.sidecar.stats.lifetime("gpu0");
    await until("the scrape after the request", () => life().tokens_predicted_total === expected.predicted);
    expect(life()).toMatchObject({ prompt_tokens_total: expected.prompt, tokens_predicted_total: expected.predicted });
    expect(first.sidecar.stats.totals().requests).toBe(8);
    await first.sidecar.close();

    // Started again: format 2 now, no second migration, the same totals.
    const second = await sidecarOn(dir, ["--config", config]);
    expect(second.lines.some((l) => l.includes("migrated"))).toBe(false);
    expect(second.sidecar.stats.totals().requests).toBe(8);
    expect(second.sidecar.stats.lifetime("gpu0")).toMatchObject({
      prompt_tokens_total: expected.prompt,
      tokens_predicted_total: expected.predicted,
    });
    expect(second.sidecar.stats.doc.upstreams.gpu1?.restartCount ?? 0).toBe(0);
    await second.sidecar.close();
  });
});
