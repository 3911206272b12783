/// <reference lib="dom" />
// Any web page the user visits must not use the local model or read its answers: headless Chromium (Debian's,
// driven by playwright-core) loads a page from another port that tries, and a counting llama-server sees nothing.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeLlama, fromClients, startFakeLlama } from "../support/fake-llama.js";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { toolPath } from "../support/tools.js";

let fake: FakeLlama;
let page: Server;
let pageOrigin: string;
let browser: Browser;

/** The attacker's page: four ways to reach the sidecar given in its query string, results in window.results. */
const ATTACK = `<!doctype html><script>
const target = new URLSearchParams(location.search).get("target");
const body = JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "exfiltrate" }] });
async function attempt(f) {
  try {
    const r = await f();
    return { status: r.status, type: r.type, body: r.type === "opaque" ? null : await r.text() };
  } catch (e) {
    return { error: String(e) };
  }
}
(async () => {
  window.results = {
    textPlain: await attempt(() => fetch(target + "/v1/chat/completions", { method: "POST", headers: { "content-type": "text/plain" }, body })),
    noCors: await attempt(() => fetch(target + "/v1/chat/completions", { method: "POST", mode: "no-cors", body })),
    json: await attempt(() => fetch(target + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body })),
    stats: await attempt(() => fetch(target + "/api/stats")),
  };
})();
</script>`;

beforeAll(async () => {
  fake = await startFakeLlama();
  page = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(ATTACK);
  });
  page.listen(0, "127.0.0.1");
  await once(page, "listening");
  pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: toolPath("chromium"),
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});
afterAll(async () => {
  await browser?.close();
  await new Promise((r) => page?.close(r));
  await fake?.close();
});

interface Attempt {
  status?: number;
  type?: string;
  body?: string | null;
  error?: string;
}

async function attack(sidecar: TestSidecar): Promise<Record<string, Attempt>> {
  const tab = await browser.newPage();
  await tab.goto(`${pageOrigin}/?target=${encodeURIComponent(sidecar.url)}`);
  const results = await tab.waitForFunction(() => (window as unknown as { results?: unknown }).results);
  const out = (await results.jsonValue()) as Record<string, Attempt>;
  await tab.close();
  return out;
}

describe("a page from another origin", () => {
  let sidecar: TestSidecar;
  beforeAll(async () => {
    sidecar = await startTestSidecar(fake.url);
  });
  afterAll(async () => sidecar?.close());

  it("cannot send a request to llama-server, in any of four ways, nor read the stats", async () => {
    fake.seen.length = 0;
    const r = await attack(sidecar);
    expect(r.textPlain?.error).toMatch(/Failed to fetch/); // refused, and unreadable without CORS headers
    expect(r.noCors).toMatchObject({ status: 0, type: "opaque" }); // sent blind: refused by the sidecar all the same
    expect(r.json?.error).toMatch(/Failed to fetch/); // its preflight was refused
    expect(r.stats?.error).toMatch(/Failed to fetch/);
    expect(fromClients(fake)).toEqual([]);
    expect(sidecar.records.filter((x) => x.route === "/v1/chat/completions")).toEqual([]);
  });

  it("leaves the dashboard on the sidecar's own origin working", async () => {
    const tab = await browser.newPage();
    await tab.goto(`${sidecar.url}/dashboard`);
    await tab.waitForSelector("body[data-ready=true]");
    expect(await tab.locator('[data-stat="upstream-state"]').textContent()).toBe("online");
    expect(await tab.locator('[data-stat="summary"]').textContent()).toMatch(/requests since/);
    await tab.close();
  });
});

describe("a page from an origin given in --allowed-origins", () => {
  it("may call the sidecar and read the answers, with the sidecar's CORS headers (never llama-server's)", async () => {
    const sidecar = await startTestSidecar(fake.url, ["--allowed-origins", pageOrigin]);
    try {
      const r = await attack(sidecar);
      expect(r.json?.status).toBe(200);
      expect(JSON.parse(r.json?.body ?? "{}").object).toBe("chat.completion");
      expect(r.stats?.status).toBe(200);
      const res = await fetch(`${sidecar.url}/v1/models`, { headers: { origin: pageOrigin } });
      expect(res.headers.get("access-control-allow-origin")).toBe(pageOrigin);
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    } finally {
      await sidecar.close();
    }
  });
});

describe("the dashboard of a sidecar with an API key", () => {
  it("asks for the key once, keeps it for the tab's session, and shows the numbers", async () => {
    const key = "sk-dashboard-51c0ffee";
    const sidecar = await startTestSidecar(fake.url, ["--api-key", key]);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const tab = await context.newPage();
      await tab.goto(`${sidecar.url}/dashboard`);
      const form = tab.locator('[data-stat="key-form"]');
      await expect.poll(() => form.isVisible(), { timeout: 5000 }).toBe(true);
      await tab.screenshot({ path: "test-output/dashboard-asks-key.png" });
      await tab.fill("#key-input", "not-the-key");
      await tab.click('[data-stat="key-form"] button');
      await expect.poll(() => form.isVisible(), { timeout: 5000 }).toBe(true); // a wrong key: asked again
      await tab.fill("#key-input", key);
      await tab.click('[data-stat="key-form"] button');
      await expect
        .poll(() => tab.locator('[data-stat="upstream-state"]').textContent(), { timeout: 5000 })
        .toBe("online");
      expect(await form.isVisible()).toBe(false);
      // Kept for this tab's session: a reload does not ask again.
      await tab.reload();
      await tab.waitForSelector("body[data-ready=true]");
      await expect
        .poll(() => tab.locator('[data-stat="upstream-state"]').textContent(), { timeout: 5000 })
        .toBe("online");
      expect(await form.isVisible()).toBe(false);
      expect(await tab.evaluate(() => document.cookie)).toBe("");
    } finally {
      await context.close();
      await sidecar.close();
    }
  });
});
