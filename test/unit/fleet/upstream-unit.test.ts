import { describe, expect, it } from "vitest";
import type { UpstreamSpec } from "../../../src/config/upstreams.js";
import { modelsOf } from "../../../src/fleet/upstream-unit.js";
import type { UpstreamMonitor, UpstreamStatus } from "../../../src/upstream/monitor.js";

/** A monitor whose status (and so its listed models) the test changes. */
function monitorListing(models: string[] | undefined): { monitor: UpstreamMonitor; status: UpstreamStatus } {
  const status: UpstreamStatus = {
    state: "online",
    since: 0,
    props: models && ({ models } as UpstreamStatus["props"]),
  };
  return { monitor: { status } as unknown as UpstreamMonitor, status };
}

const spec = (models?: string[]) => ({ name: "gpu0", url: "http://127.0.0.1:8080", models }) as unknown as UpstreamSpec;

describe("what an upstream serves", () => {
  it("answers to a listed model's id, its file name and the name without .gguf", () => {
    const { monitor } = monitorListing(["/models/qwen3-coder.gguf"]);
    const { serves } = modelsOf(spec(), monitor);
    expect(["/models/qwen3-coder.gguf", "qwen3-coder.gguf", "qwen3-coder"].map(serves)).toEqual([true, true, true]);
    expect(serves("qwen3")).toBe(false);
  });

  it("follows a new listing: the names a server answers to are the ones it listed last", () => {
    const { monitor, status } = monitorListing(["qwen3-4b"]);
    const { serves } = modelsOf(spec(), monitor);
    expect(serves("qwen3-4b")).toBe(true);
    status.props = { ...status.props, models: ["gemma-3-12b.gguf"] } as UpstreamStatus["props"];
    expect(serves("qwen3-4b")).toBe(false);
    expect(serves("gemma-3-12b")).toBe(true);
    status.props = undefined;
    expect(serves("gemma-3-12b")).toBe(false);
  });

  it("serves its configured names and patterns, whatever the server lists", () => {
    const { monitor } = monitorListing(["qwen3-4b"]);
    const { serves, models } = modelsOf(spec(["qwen3-coder*", "llama-3.1-8b"]), monitor);
    expect(models()).toEqual(["qwen3-coder*", "llama-3.1-8b"]);
    expect(["qwen3-coder-30b", "llama-3.1-8b", "qwen3-4b"].map(serves)).toEqual([true, true, false]);
  });
});
