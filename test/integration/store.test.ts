// Bad store files: corrupt or truncated ones are moved aside; unreadable or unwritable ones stop the sidecar, untouched.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { openStats } from "../../src/stats/service.js";
import { FileAccessError } from "../../src/store/durable-file.js";

function capture() {
  const lines: string[] = [];
  const logger = pino({ level: "warn" }, { write: (s: string) => lines.push(s) });
  return { logger, lines };
}

const freshDir = () => mkdtempSync(join(tmpdir(), "llama-sidecar-store-"));

describe("store files", () => {
  it("creates stats.json and history.json in a new data dir, and reads back what it wrote", async () => {
    const dir = join(freshDir(), "nested", "data");
    const { logger } = capture();
    const a = await openStats(dir, logger);
    a.doc.sidecar.requests["/v1/messages|m|claude-code|ok"] = 3;
    await a.flush();
    const b = await openStats(dir, logger);
    expect(b.doc.sidecar.requests["/v1/messages|m|claude-code|ok"]).toBe(3);
    expect(b.doc.since).toBe(a.doc.since);
    expect(readdirSync(dir).sort()).toEqual(["history.json", "stats.json"]);
  });

  const cases: [string, string][] = [
    ["truncated", '{"version":1,"since":"2026-05-12T00:00:00.000Z","upstream":{"incarn'],
    ["corrupt", "\u0000\u0001garbage"],
    ["of the wrong shape", '{"version":1,"hello":"world"}'],
  ];
  for (const [what, content] of cases) {
    it(`moves a ${what} stats.json aside with a timestamp, warns, and starts empty`, async () => {
      const dir = freshDir();
      writeFileSync(join(dir, "stats.json"), content);
      const { logger, lines } = capture();
      const stats = await openStats(dir, logger);
      expect(stats.totals().requests).toBe(0);
      const aside = readdirSync(dir).filter((f) => f.startsWith("stats.json.corrupt-"));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, aside[0] ?? ""), "utf8")).toBe(content);
      expect(lines.join("")).toMatch(/moved aside, starting from empty/);
      // The fresh file is valid and loads without another warning.
      const again = capture();
      await openStats(dir, again.logger);
      expect(again.lines).toHaveLength(0);
    });
  }

  it("repairs a stats.json with bad counts field by field: each reset and reported, every good total kept", async () => {
    const dir = freshDir();
    const doc = {
      version: 1,
      since: "2026-05-12T00:00:00.000Z",
      upstream: {
        incarnation: "7",
        last: { prompt_tokens_total: -50, tokens_predicted_total: 900 },
        base: { prompt_tokens_total: 1000 },
        restartCount: 2,
        restarts: [1, 2],
        lastScrapeAt: null,
      },
      sidecar: {
        requests: { "/v1/messages|m|claude-code|ok": 7, "/v1/messages|m|curl|ok": -40, "/v1/messages|m|x|ok": null },
        tokens: { "m|claude-code": { prompt: 120, cached: null, generated: 30 } },
        background: {},
      },
    };
    writeFileSync(join(dir, "stats.json"), JSON.stringify(doc));
    writeFileSync(
      join(dir, "history.json"),
      JSON.stringify({ version: 1, minutes: [{ t: 0, requests: -1 }], hours: [] }),
    );
    const { logger, lines } = capture();
    const stats = await openStats(dir, logger);
    expect(stats.totals()).toMatchObject({ requests: 7, prompt: 120, cached: 0, generated: 30 });
    expect(stats.lifetime()).toEqual({ prompt_tokens_total: 1000, tokens_predicted_total: 900 });
    expect(stats.doc.upstreams.default?.restartCount).toBe(2);
    const reset = lines.flatMap((l) => (JSON.parse(l) as { reset?: string[] }).reset ?? []);
    expect(reset).toEqual([
      'upstreams["default"].last["prompt_tokens_total"]',
      'sidecar.requests["/v1/messages|m|curl|ok|default"]',
      'sidecar.requests["/v1/messages|m|x|ok|default"]',
      'sidecar.tokens["m|claude-code|default"].cached',
      "minutes[0]",
    ]);
    expect(readdirSync(dir).filter((f) => f.includes("corrupt"))).toEqual([]);
    // The repaired file is written back: the next start reads it without a word.
    const again = capture();
    await openStats(dir, again.logger);
    expect(again.lines).toHaveLength(0);
  });

  it("refuses a stats.json that is a link to nothing, leaving the link in place", async () => {
    const dir = freshDir();
    symlinkSync(join(dir, "elsewhere", "stats.json"), join(dir, "stats.json"));
    const { logger } = capture();
    const err = await openStats(dir, logger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as Error).message).toMatch(/symbolic link to .*elsewhere.*which does not exist/);
    expect(lstatSync(join(dir, "stats.json")).isSymbolicLink()).toBe(true);
  });

  it("refuses a stats.json that a newer version wrote, leaving it untouched", async () => {
    const dir = freshDir();
    const content = '{"version":99,"since":"2030-01-01T00:00:00.000Z","future":{"totals":1}}';
    writeFileSync(join(dir, "stats.json"), content);
    const { logger } = capture();
    const err = await openStats(dir, logger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect((err as Error).message).toMatch(/written by a newer llama-sidecar \(format 99; this one reads format 2\)/);
    expect((err as FileAccessError).hint).toMatch(/newer llama-sidecar, or choose another --data-dir/);
    expect(readdirSync(dir)).toEqual(["stats.json"]);
    expect(readFileSync(join(dir, "stats.json"), "utf8")).toBe(content);
  });

  it("refuses a data dir it may not write, leaving the file untouched", async () => {
    const dir = freshDir();
    mkdirSync(join(dir, "stats.json")); // a folder where the file should be: cannot be read or replaced
    const { logger } = capture();
    await expect(openStats(dir, logger)).rejects.toBeInstanceOf(FileAccessError);
    expect(readdirSync(dir)).toEqual(["stats.json"]);
  });

  it("exits non-zero with a clear message when the stats file is not writable for its user", () => {
    // Root ignores file modes, so run the CLI as 'nobody' against a root-owned, private stats file.
    const dir = freshDir();
    chmodSync(dir, 0o777);
    const file = join(dir, "stats.json");
    const content = '{"keep":"me"}';
    writeFileSync(file, content, { mode: 0o600 });
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync(process.execPath, ["--import", "tsx", "src/cli.ts", "--data-dir", dir, "--port", "0"], {
      ...asNobody,
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: "/tmp" },
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot read and write .*stats\.json: EACCES/);
    expect(r.stderr).toMatch(/--data-dir/);
    expect(readFileSync(file, "utf8")).toBe(content);
    expect(readdirSync(dir)).toEqual(["stats.json"]);
  });
});
