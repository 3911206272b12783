// Sessions looked back on, through a real llama-server (one slot, no --cache-ram) and the real CLI as a process: a
// Claude Code-like session of five streamed turns, another conversation between its third and fourth (a cache
// miss), a SIGKILL, a restart; then the session from disk: its report, its requests, its export, and no prompt text.
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import Anthropic from "@anthropic-ai/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionReport } from "../../src/log/session-report.js";
import type { LogRow } from "../../src/store/log-row.js";
import { startCli } from "../support/cli-process.js";
import { freePort, type LlamaServer, startLlamaServer } from "../support/llama-server.js";
import { startTestSidecar } from "../support/sidecar.js";
import { splitTotal } from "../support/time-split.js";

const run = promisify(execFile);
/** A word no model writes and no name holds: if it is anywhere on disk, prompt text is. */
const MARK = "zanzibarquokka";
const SESSION = `b8a1c2d0-${Date.now()}`;

let llama: LlamaServer;
beforeAll(async () => {
  llama = await startLlamaServer({ parallel: 1, ctx: 8192, extraArgs: ["--cache-ram", "0"] });
});
afterAll(async () => {
  await llama?.stop();
});

/** A turn as Claude Code sends it: streamed, its session named in a header. */
async function turn(url: string, session: string, messages: Anthropic.MessageParam[]): Promise<string> {
  const client = new Anthropic({
    baseURL: url,
    apiKey: "local",
    defaultHeaders: { "x-claude-code-session-id": session, "user-agent": "claude-cli/2.1.197 (external, cli)" },
  });
  const stream = client.messages.stream({
    model: "tiny",
    max_tokens: 16,
    system: `You are a coding agent. ${"Follow the house rules. ".repeat(40)}`,
    messages,
  });
  const message = await stream.finalMessage();
  return message.content.map((c) => (c.type === "text" ? c.text : "")).join("") || "ok";
}

const cliTool = (args: string[]) =>
  run(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { maxBuffer: 1 << 24 });

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

describe("a session after a SIGKILL and a restart", () => {
  it("has its five turns, the miss with its cause and a time split that adds up, in every view", {
    timeout: 240_000,
  }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "llama-sidecar-sessions-"));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const args = ["--upstream", llama.url, "--port", String(port), "--data-dir", dataDir];
    const first = startCli(args);
    await first.waitFor(/Proxy URL/, 60_000);
    const messages: Anthropic.MessageParam[] = [];
    for (let i = 1; i <= 5; i++) {
      messages.push({ role: "user", content: `Step ${i} of ${MARK}: ${"read the file and fix the bug. ".repeat(15)}` });
      messages.push({ role: "assistant", content: await turn(url, SESSION, messages) });
      if (i === 3) await turn(url, `other-${SESSION}`, [{ role: "user", content: `${MARK} elsewhere. `.repeat(60) }]);
    }
    // Killed the moment the last answer ended: whatever was not in the log yet is in its journal.
    first.proc.kill("SIGKILL");
    await first.stop();

    const second = startCli(args);
    try {
      await second.waitFor(/Proxy URL/, 60_000);
      const { stdout } = await cliTool(["session", SESSION, "--json", "--data-dir", dataDir]);
      const report = JSON.parse(stdout) as SessionReport;
      expect(report.turns).toHaveLength(5);
      expect(report.misses.map((m) => [m.turn, m.cause])).toEqual([[4, "other_conversation"]]);
      expect(splitTotal(report.time)).toBeCloseTo(report.wallMs, 3);
      expect(report.time.lostPrefillMs.other_conversation).toBeGreaterThan(0);
      expect(report.turns.every((x) => x.nCtx === 8192 || !x.judged)).toBe(true);

      const api = (await (await fetch(`${url}/api/requests?session=${SESSION}`)).json()) as { requests: LogRow[] };
      expect(api.requests).toHaveLength(5);
      const exported = await (await fetch(`${url}/api/requests/export?since=1h&format=jsonl`)).text();
      const lines = exported
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as LogRow);
      expect(lines.filter((r) => r.session === SESSION)).toHaveLength(5);
      expect(lines).toHaveLength(6); // and the other conversation's turn
      const csv = (await cliTool(["export", "--format", "csv", "--session", SESSION, "--data-dir", dataDir])).stdout;
      expect(csv.trim().split("\n")).toHaveLength(6);
      // The endpoint's CSV is the command's: a header and the session's five rows, the same bytes.
      const served = await fetch(`${url}/api/requests/export?session=${SESSION}&format=csv`);
      expect(served.headers.get("content-type")).toMatch(/^text\/csv/);
      expect(await served.text()).toBe(csv);
      const listed = (await cliTool(["sessions", "--data-dir", dataDir])).stdout;
      expect(listed).toContain(SESSION);
      expect(listed).toMatch(/ 1 \([\d.]+ m?s\) /); // one miss, and the prefill it cost

      // Capture is off: the prompts' text is nowhere on disk.
      for (const file of filesUnder(dataDir)) expect(readFileSync(file).includes(MARK), file).toBe(false);
    } finally {
      await second.stop();
    }
  });
});

describe("--capture-content in the request log", () => {
  it("keeps each turn's bodies redacted and compressed, and shows a miss's two prompts at the place they part", {
    timeout: 120_000,
  }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "llama-sidecar-capture-"));
    const sidecar = await startTestSidecar(llama.url, [
      "--capture-content",
      "--data-dir",
      dataDir,
      "--capture-redact",
      "ticket-\\d+",
    ]);
    try {
      const session = `capture-${Date.now()}`;
      const secret = `sk-ant-api03-${"A".repeat(32)}`;
      const first = {
        role: "user" as const,
        content: `Fix ${MARK} in the parser. My key is ${secret}, ticket-4711. ${"Read it all. ".repeat(30)}`,
      };
      await turn(sidecar.url, session, [first]);
      const edited = { ...first, content: first.content.replace("the parser", "the lexer") };
      await turn(sidecar.url, session, [
        edited,
        { role: "assistant", content: "On it." },
        { role: "user", content: "Go." },
      ]);
      const { requests } = (await (await fetch(`${sidecar.url}/api/requests?session=${session}`)).json()) as {
        requests: LogRow[];
      };
      const [second, earlier] = requests;
      expect(second?.missCause).toBe("history_edited");
      const content = (await (await fetch(`${sidecar.url}/api/requests/${earlier?.id}/content`)).json()) as {
        request: string;
        response?: string;
      };
      expect(content.request).toContain(MARK);
      expect(content.request).not.toContain(secret);
      expect(content.request).not.toContain("ticket-4711");
      expect(content.request).toContain("[redacted]");
      expect(typeof content.response).toBe("string");
      const miss = (await (await fetch(`${sidecar.url}/api/requests/${second?.id}/miss`)).json()) as {
        path: string;
        before: string;
        after: string;
        previous: string;
      };
      expect(miss.previous).toBe(earlier?.id);
      expect(miss.path).toBe("messages[0]");
      expect(miss.before).toContain("the parser");
      expect(miss.after).toContain("the lexer");
      // Compressed on disk: the marker is in no file even with capture on, and the key never was.
      for (const file of filesUnder(dataDir)) expect(readFileSync(file).includes(secret), file).toBe(false);
      const view = (await (await fetch(`${sidecar.url}/api/sessions/${session}`)).json()) as { report: SessionReport };
      expect(view.report.turns.map((t) => t.captured)).toEqual([true, true]);
      const none = await fetch(`${sidecar.url}/api/requests/nothing-here/content`);
      expect(none.status).toBe(404);
    } finally {
      await sidecar.close();
    }
  });
});
