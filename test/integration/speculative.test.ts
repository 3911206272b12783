// Speculative decoding as a real llama-server does it (the tiny model drafting for itself): each response's
// timings.draft_n and draft_n_accepted reach the request's record, its session's report, and /metrics beside
// llama-server's spec_decode counters, streamed or not.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTinyModel } from "../../scripts/make-tiny-model.js";
import { type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { until } from "../support/until.js";

let llama: LlamaServer;
let sidecar: TestSidecar;

beforeAll(async () => {
  llama = await startLlamaServer({
    parallel: 1,
    ctx: 4096,
    extraArgs: ["-md", ensureTinyModel(), "--spec-type", "draft-simple", "--spec-draft-n-max", "4"],
  });
  sidecar = await startTestSidecar(llama.url, ["--scrape-interval", "1"]);
});
afterAll(async () => {
  await sidecar?.close();
  await llama?.stop();
});

type Timings = { draft_n?: number; draft_n_accepted?: number };

/** One chat turn through the sidecar; the timings llama-server sent, as the client got them. */
async function turn(text: string, stream: boolean, temperature: number): Promise<Timings> {
  const res = await fetch(`${sidecar.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-claude-code-session-id": "drafted" },
    body: JSON.stringify({
      model: "tiny",
      messages: [{ role: "user", content: text }],
      max_tokens: 32,
      temperature,
      stream,
    }),
  });
  const body = await res.text();
  if (!stream) return (JSON.parse(body) as { timings: Timings }).timings;
  const events = body
    .split("\n")
    .filter((l) => l.startsWith("data: {"))
    .map((l) => JSON.parse(l.slice(6)) as { timings?: Timings });
  return events.findLast((e) => e.timings)?.timings ?? {};
}

describe("speculative decoding", () => {
  it("records each request's drafted and accepted tokens, and the session's acceptance", async () => {
    const seen = [
      await turn("Tell me about the sea.", false, 0),
      await turn("And the mountains?", true, 0),
      await turn("Now something random.", false, 1),
    ];
    const drafted = seen.reduce((a, t) => a + (t.draft_n ?? 0), 0);
    const accepted = seen.reduce((a, t) => a + (t.draft_n_accepted ?? 0), 0);
    expect(drafted).toBeGreaterThan(0);
    const records = await sidecar.waitForRecords(3);
    expect(records.map((r) => [r.draftTokens, r.draftAccepted])).toEqual(
      seen.map((t) => [t.draft_n, t.draft_n_accepted]),
    );
    type Report = { draft?: { drafted: number; accepted: number; acceptance: number }; summary: string };
    let report: Report | undefined;
    await until("the session's report", async () => {
      const r = await fetch(`${sidecar.url}/api/sessions/drafted`);
      report = r.ok ? ((await r.json()) as { report: Report }).report : undefined;
      return report?.draft?.drafted === drafted;
    });
    expect(report?.draft).toEqual({ drafted, accepted, acceptance: accepted / drafted });
    expect(report?.summary).toContain(
      `The draft model's tokens were accepted ${Math.round((accepted / drafted) * 100)}% of the time (${accepted} of ${drafted}).`,
    );
  });

  it("exports llama-server's draft counters as lifetime totals, and the acceptance between scrapes", async () => {
    const total = (text: string, name: string) =>
      Number(/ (\S+)$/.exec(text.split("\n").find((l) => l.startsWith(name) && !l.startsWith(`${name}_`)) ?? "")?.[1]);
    await turn("Say the same thing twice.", false, 0);
    // llama-server's own counter, never restarted here: the sidecar's lifetime total is the same once scraped.
    const own = total(
      await (await fetch(`${llama.url}/metrics`)).text(),
      "llamacpp:spec_decode_num_draft_tokens_total",
    );
    expect(own).toBeGreaterThan(0);
    await until(
      "the scrape after it",
      async () => total(await sidecar.metrics(), "llama_server_spec_decode_num_draft_tokens_total{") === own,
    );
    const text = await sidecar.metrics();
    const ratio = total(text, "llama_server_draft_acceptance_ratio{");
    expect(ratio).toBeGreaterThanOrEqual(0);
    expect(ratio).toBeLessThanOrEqual(1);
    expect(text).toMatch(/^llama_server_draft_acceptance_ratio\{upstream="default",model="tiny"\} /m);
    const stats = (await (await fetch(`${sidecar.url}/api/stats`)).json()) as {
      live: { draftAcceptance: number | null };
    };
    expect(stats.live.draftAcceptance).toBe(ratio);
  });
});
