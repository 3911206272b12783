// The three kinds of upstream: each one's paths, how it is recognized, how its models are read, found ready, loaded
// and scraped.
import { describe, expect, it } from "vitest";
import { kindRules, recognizeKind } from "../../../src/upstream/upstream-kind.js";

const plain = kindRules("plain");
const router = kindRules("router");
const swap = kindRules("swap");

/** A /v1/models answer of llama-swap's: its models marked owned_by "llama-swap", an alias listed as its own entry. */
const SWAP_MODELS = JSON.stringify({
  object: "list",
  data: [
    { id: "coder", owned_by: "llama-swap", meta: { llamaswap: { type: "model", aliases: ["c"] } } },
    { id: "c", owned_by: "llama-swap", meta: { llamaswap: { type: "alias" } } },
    { id: "small", owned_by: "llama-swap", meta: { llamaswap: { type: "model" } } },
  ],
});

/** A router's /v1/models answer: one model loaded with its child's arguments, one not. */
const ROUTER_MODELS = JSON.stringify({
  data: [
    { id: "a/b.gguf", aliases: ["b"], status: { value: "loaded", args: ["--parallel", "2", "--ctx-size", "4096"] } },
    { id: "other", status: { value: "unloaded", failed: true } },
  ],
});

describe("each kind's paths", () => {
  it("a plain server's own, whatever model is named", () => {
    expect([plain.metricsPath("m"), plain.slotsPath("m"), plain.propsPath("m")]).toEqual([
      "/metrics",
      "/slots",
      "/props",
    ]);
  });

  it("a router's, by ?model= with autoload=false so that looking never loads it, the id encoded", () => {
    expect(router.metricsPath("a/b c.gguf")).toBe("/metrics?model=a%2Fb%20c.gguf&autoload=false");
    expect(router.slotsPath("a/b c.gguf")).toBe("/slots?model=a%2Fb%20c.gguf&autoload=false");
    expect(router.propsPath("a/b c.gguf")).toBe("/props?model=a%2Fb%20c.gguf&autoload=false");
  });

  it("llama-swap's, through /upstream/<model>/ to that model's own server", () => {
    expect(swap.metricsPath("q:8b")).toBe("/upstream/q%3A8b/metrics");
    expect(swap.slotsPath("q:8b")).toBe("/upstream/q%3A8b/slots");
    expect(swap.propsPath("q:8b")).toBe("/upstream/q%3A8b/props");
  });
});

describe("recognizing the kind", () => {
  it("from llama-swap's model list, a router's role, else plain; unknown while /props is unanswered", () => {
    expect(recognizeKind(undefined, SWAP_MODELS)).toBe("swap");
    expect(recognizeKind(JSON.stringify({ role: "router" }), ROUTER_MODELS)).toBe("router");
    expect(recognizeKind(JSON.stringify({ total_slots: 4 }), JSON.stringify({ data: [{ id: "m" }] }))).toBe("plain");
    expect(recognizeKind(undefined, JSON.stringify({ data: [{ id: "m" }] }))).toBeUndefined();
    expect(recognizeKind(undefined, undefined)).toBeUndefined();
  });

  it("takes a server not read yet for a plain one", () => {
    expect(kindRules(undefined).kind).toBe("plain");
  });
});

describe("what each kind says of itself and its models", () => {
  const facts = { model: "m.gguf", totalSlots: 4, nCtx: 8192, buildInfo: "b1" };

  it("keeps a plain server's own facts, none of a router's model and context, nothing of llama-swap's /props", () => {
    expect(plain.ownFacts(facts)).toEqual(facts);
    expect(router.ownFacts(facts)).toEqual({ model: undefined, totalSlots: 4, nCtx: undefined, buildInfo: "b1" });
    expect(swap.ownFacts(facts)).toEqual({});
  });

  it("serves models by name where it is a router or llama-swap", () => {
    expect([plain.servesByName, router.servesByName, swap.servesByName]).toEqual([false, true, true]);
  });

  it("reads a router's models from its list alone", async () => {
    const asked: string[] = [];
    const models = await router.readModels(ROUTER_MODELS, async (path) => {
      asked.push(path);
      return undefined;
    });
    expect(asked).toEqual([]);
    expect(models).toEqual([
      { id: "a/b.gguf", aliases: ["b"], state: "loaded", slots: 2, nCtx: 4096 },
      { id: "other", aliases: [], state: "failed", slots: undefined, nCtx: undefined },
    ]);
  });

  it("reads llama-swap's models with their states from /running", async () => {
    const asked: string[] = [];
    const models = await swap.readModels(SWAP_MODELS, async (path) => {
      asked.push(path);
      return JSON.stringify({ running: [{ model: "coder", state: "starting" }] });
    });
    expect(asked).toEqual(["/running"]);
    expect(models).toEqual([
      { id: "coder", aliases: ["c"], state: "loading" },
      { id: "small", aliases: [], state: "unloaded" },
    ]);
  });

  it("has no model states on a plain server", async () => {
    expect(await plain.readModels(JSON.stringify({ data: [{ id: "m" }] }), async () => undefined)).toEqual([]);
  });
});

describe("readiness and loading", () => {
  it("finds a router's or llama-swap's model ready when loaded or sleeping, a plain server's always", () => {
    for (const kind of [router, swap]) {
      expect(kind.isReady("loaded")).toBe(true);
      expect(kind.isReady("sleeping")).toBe(true);
      expect(kind.isReady("loading")).toBe(false);
      expect(kind.isReady("unloaded")).toBe(false);
      expect(kind.isReady("failed")).toBe(false);
      expect(kind.isReady(undefined)).toBe(false);
    }
    expect(plain.isReady(undefined)).toBe(true);
  });

  it("asks a router to load by /models/load, llama-swap by its model's /health, a plain server not at all", () => {
    expect(router.loadCall("a b", 600_000)).toEqual({
      path: "/models/load",
      json: { model: "a b" },
      timeoutMs: 30_000,
    });
    expect(swap.loadCall("a b", 600_000)).toEqual({ path: "/upstream/a%20b/health", timeoutMs: 600_000 });
    expect(plain.loadCall("a b", 600_000)).toBeUndefined();
  });
});

describe("the scrape rule", () => {
  it("scrapes a plain server itself, never a router or llama-swap itself", () => {
    expect([plain.scrapesServer, router.scrapesServer, swap.scrapesServer]).toEqual([true, false, false]);
  });

  it("scrapes a router's model while it is ready, even while another loads", () => {
    expect(router.scrapesModel("loaded", 0)).toBe(true);
    expect(router.scrapesModel("sleeping", 2)).toBe(true);
    expect(router.scrapesModel("unloaded", 0)).toBe(false);
    expect(router.scrapesModel(undefined, 0)).toBe(false);
  });

  it("scrapes llama-swap's ready model only while the sidecar has no swap going (a scrape would swap it back)", () => {
    expect(swap.scrapesModel("loaded", 0)).toBe(true);
    expect(swap.scrapesModel("loaded", 1)).toBe(false);
    expect(swap.scrapesModel("loading", 0)).toBe(false);
  });

  it("has no models to scrape on a plain server", () => {
    expect(plain.scrapesModel("loaded", 0)).toBe(false);
  });
});
