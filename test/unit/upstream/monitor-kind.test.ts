// The monitor finds an upstream's kind once, from its /props and /v1/models, and re-reads only a router's model list.
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createUpstream, type Upstream } from "../../../src/upstream/client.js";
import { kindOf, UpstreamMonitor } from "../../../src/upstream/monitor.js";

/** A server answering each path with its body (404 for a path not given), counting what it was asked. */
async function serve(
  answers: Record<string, () => unknown>,
): Promise<{ url: string; asked: string[]; server: Server }> {
  const asked: string[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    asked.push(path);
    const answer = answers[path];
    res.writeHead(answer ? 200 : 404, { "content-type": "application/json" });
    res.end(answer ? JSON.stringify(answer()) : "{}");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, server };
}

const open: { server: Server; upstream: Upstream }[] = [];
afterEach(async () => {
  for (const { server, upstream } of open.splice(0)) {
    await upstream.close();
    server.close();
  }
});

async function monitorOf(answers: Record<string, () => unknown>) {
  const served = await serve({ "/health": () => ({ status: "ok" }), ...answers });
  const upstream = createUpstream(served.url, 10);
  open.push({ server: served.server, upstream });
  return { monitor: new UpstreamMonitor(upstream, 1000), asked: served.asked };
}

describe("the monitor's kind", () => {
  it("finds a plain server, keeps its own facts and model names, and asks no more once it knows", async () => {
    const { monitor, asked } = await monitorOf({
      "/props": () => ({ model_alias: "m", total_slots: 2, default_generation_settings: { n_ctx: 4096 } }),
      "/v1/models": () => ({ data: [{ id: "m", aliases: ["mm"] }] }),
    });
    const status = await monitor.check();
    expect(kindOf(status).kind).toBe("plain");
    expect(status.props).toMatchObject({ model: "m", totalSlots: 2, nCtx: 4096, models: ["m", "mm"] });
    expect(status.props?.routerModels).toBeUndefined();
    await monitor.check();
    expect(asked.filter((p) => p !== "/health").sort()).toEqual(["/props", "/v1/models"]);
  });

  it("finds a router, reads its models again at every check, and tells them", async () => {
    let state = "unloaded";
    const { monitor, asked } = await monitorOf({
      "/props": () => ({ role: "router", model_path: "none", total_slots: 1 }),
      "/v1/models": () => ({ data: [{ id: "m", status: { value: state } }] }),
    });
    const told: string[] = [];
    monitor.on("models", (models) => told.push(models.map((m) => `${m.id}:${m.state}`).join()));
    const first = await monitor.check();
    expect(kindOf(first).kind).toBe("router");
    expect(first.props).toMatchObject({ model: undefined, totalSlots: 1, models: ["m"] });
    state = "loaded";
    const second = await monitor.check();
    expect(kindOf(second).kind).toBe("router");
    expect(second.props?.routerModels?.map((m) => m.state)).toEqual(["loaded"]);
    expect(told).toEqual(["m:unloaded", "m:loaded"]);
    expect(asked.filter((p) => p === "/props")).toHaveLength(1);
  });

  it("finds llama-swap from its model list, its models' states from /running", async () => {
    const { monitor } = await monitorOf({
      "/v1/models": () => ({ data: [{ id: "q", owned_by: "llama-swap", meta: { llamaswap: { type: "model" } } }] }),
      "/running": () => ({ running: [{ model: "q", state: "ready" }] }),
    });
    const status = await monitor.check();
    expect(kindOf(status).kind).toBe("swap");
    expect(status.props?.routerModels).toEqual([{ id: "q", aliases: [], state: "loaded" }]);
    expect(await monitor.refreshModels()).toEqual([{ id: "q", aliases: [], state: "loaded" }]);
  });

  it("is plain, with nothing to refresh, while the server has not been read", async () => {
    const { monitor } = await monitorOf({});
    const status = await monitor.check();
    expect(status.props).toBeUndefined();
    expect(kindOf(status).kind).toBe("plain");
    expect(await monitor.refreshModels()).toBeUndefined();
  });
});
