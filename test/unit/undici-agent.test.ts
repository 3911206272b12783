// undici's Agent loaded from its own module: the index's own class, working, and the sidecar never loading the index.
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import * as undici from "undici";
import { describe, expect, it } from "vitest";
import { Agent, request } from "../../src/undici-agent.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("undici's Agent, from its own module", () => {
  it("is the class undici's index exports (a move of its file in an undici upgrade fails here)", () => {
    expect(Agent).toBe(undici.Agent);
  });

  // Its request API without the index is test/unit/gpu/url-source.test.ts's (that file never loads the index).
  it("carries a request to a real server and back", async () => {
    const server = createServer((req, res) => res.end(`you asked for ${req.url}`));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const agent = new Agent();
    try {
      const { port } = server.address() as AddressInfo;
      const res = await request(agent, { origin: `http://127.0.0.1:${port}`, path: "/metrics?x=1", method: "GET" });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe("you asked for /metrics?x=1");
    } finally {
      await agent.close();
      server.close();
    }
  });

  it("is all of undici a sidecar loads: its index (fetch, WebSocket, caches, mocks) stays unloaded", () => {
    // A process of its own, since this test file loads the index itself.
    const script = [
      'await import("./src/main.ts");',
      'const { createRequire } = await import("node:module");',
      "const loaded = Object.keys(createRequire(import.meta.url).cache);",
      'console.log(JSON.stringify(loaded.filter((f) => f.includes("/node_modules/undici/"))));',
    ].join("\n");
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: ROOT,
      encoding: "utf8",
    });
    const files: string[] = JSON.parse(out.trim().split("\n").at(-1) as string);
    expect(files.some((f) => f.endsWith("/undici/lib/dispatcher/agent.js"))).toBe(true);
    expect(files.filter((f) => f.endsWith("/undici/index.js") || f.includes("/undici/lib/web/"))).toEqual([]);
  });
});
