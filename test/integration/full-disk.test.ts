// A data dir on a tiny tmpfs that fills up mid-run and is freed again: /metrics never exports more than is on
// disk, the store says it is failing (gauge, counter, /api/stats, banner, shutdown), and writing resumes by itself
// with nothing lost or counted twice. Mounting needs root, as CI and the test command's machines have.
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METRIC_PREFIX } from "../../src/telemetry/instruments.js";
import { apiStats, type CliProcess, startCli } from "../support/cli-process.js";
import { type FakeLlama, startFakeLlama } from "../support/fake-llama.js";
import { freePort } from "../support/llama-server.js";
import { until } from "../support/until.js";

let mount: string;
let fake: FakeLlama;

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error("this test mounts a tmpfs and needs root (run the test command as root)");
  mount = mkdtempSync(join(tmpdir(), "llama-sidecar-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mount]);
  fake = await startFakeLlama();
});
afterAll(async () => {
  await fake?.close();
  if (mount) execFileSync("umount", ["-l", mount]);
});

const FILLER = () => join(mount, "filler");

/** Writes zeros until the file system refuses another byte. */
function fill(): void {
  const fd = openSync(FILLER(), "w");
  const block = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  // Whatever room the last block left: fill it byte by byte, so not even a short journal line fits.
  const fd2 = openSync(FILLER(), "a");
  try {
    for (;;) writeSync(fd2, Buffer.alloc(1));
  } catch {
    // full
  } finally {
    closeSync(fd2);
  }
}

async function chats(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", stream: true, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
    await res.text();
  }
}

async function series(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(" ").at(-1));
  }
  return sum;
}

const REQUESTS = `${METRIC_PREFIX}_requests_total`;
const WRITABLE = `${METRIC_PREFIX}_store_writable`;
const FAILURES = `${METRIC_PREFIX}_store_write_failures_total`;

async function start(dataDir: string): Promise<{ cli: CliProcess; url: string }> {
  const port = await freePort();
  const cli = startCli(["--upstream", fake.url, "--port", String(port), "--data-dir", dataDir]);
  await cli.waitFor(/Proxy URL/);
  return { cli, url: `http://127.0.0.1:${port}` };
}

describe("a data dir whose disk fills up", () => {
  it("exports only what is on disk while full, says so, and catches up exactly once space returns", async () => {
    const dataDir = join(mount, "data");
    const { cli, url } = await start(dataDir);
    await chats(url, 10);
    expect(await series(url, REQUESTS)).toBe(10);
    expect(await series(url, WRITABLE)).toBe(1);

    fill();
    await chats(url, 30);
    // Nothing of the 30 is on disk, so nothing of them is exported: a crash now could not take a count back.
    expect(await series(url, REQUESTS)).toBe(10);
    expect(await series(url, WRITABLE)).toBe(0);
    expect(await series(url, FAILURES)).toBeGreaterThan(0);
    const stats = (await apiStats(url)) as unknown as { store: { writable: boolean; unsavedRequests: number } };
    expect(stats.store).toMatchObject({ writable: false, unsavedRequests: 30 });

    rmSync(FILLER());
    await until("writing to resume", async () => (await series(url, WRITABLE)) === 1);
    expect(await series(url, REQUESTS)).toBe(40);
    expect(await cli.stop()).toBe(0);
    expect(cli.output()).not.toMatch(/refused the last writes/);

    // The next start reads exactly 40: nothing lost, nothing counted twice.
    const again = await start(dataDir);
    expect(await series(again.url, REQUESTS)).toBe(40);
    await again.cli.stop();
  });

  it("started on a full disk: the banner says so, a SIGKILL takes back no count, and shutdown names what was not saved", async () => {
    const dataDir = join(mount, "data");
    const first = await start(dataDir);
    const before = await series(first.url, REQUESTS);
    fill();
    await chats(first.url, 5);
    expect(await series(first.url, REQUESTS)).toBe(before);
    first.cli.proc.kill("SIGKILL");
    await first.cli.stop();

    // On the still-full disk: a count Prometheus saw never comes back lower.
    const second = await start(dataDir);
    expect(second.cli.output()).toMatch(/Data dir\s+: .*NOT WRITABLE/);
    expect(await series(second.url, REQUESTS)).toBe(before);
    await chats(second.url, 3);
    expect(await second.cli.stop()).toBe(0);
    expect(second.cli.output(), second.cli.output()).toMatch(/refused the last writes: 3 finished request\(s\)/);
    rmSync(FILLER());
  });

  it("on a disk remounted read-only: the same, and writing resumes once it is writable again", {
    timeout: 150_000,
  }, async () => {
    const dataDir = join(mount, "data");
    const { cli, url } = await start(dataDir);
    const before = await series(url, REQUESTS);
    // The kernel refuses while a file there is open for writing: the request log closes its file after half a
    // minute without use.
    await until(
      "the read-only remount",
      () => {
        try {
          execFileSync("mount", ["-o", "remount,ro", mount], { stdio: "ignore" });
          return true;
        } catch {
          return false;
        }
      },
      90_000,
      500,
    );
    try {
      await chats(url, 4);
      expect(await series(url, REQUESTS)).toBe(before);
      expect(await series(url, WRITABLE)).toBe(0);
    } finally {
      execFileSync("mount", ["-o", "remount,rw", mount]);
    }
    await until("writing to resume", async () => (await series(url, WRITABLE)) === 1).catch((e) => {
      throw new Error(`${e.message}\n${cli.output()}`);
    });
    expect(await series(url, REQUESTS)).toBe(before + 4);
    await cli.stop();
  });
});
