import { describe, expect, it } from "vitest";
import type { Fleet } from "../../../src/config/upstreams.js";
import { errorBody, type SidecarError } from "../../../src/errors.js";
import { type FleetHost, UpstreamFleet } from "../../../src/fleet/fleet.js";
import type { UpstreamUnit } from "../../../src/fleet/upstream-unit.js";
import { modelNames } from "../../../src/upstream/monitor.js";
import type { UpstreamState } from "../../../src/wire/upstream-state.js";

interface FakeUnit {
  unit: UpstreamUnit;
  state: UpstreamState;
  busy: number;
}

/** A unit as the fleet sees it: its name, what it serves, its state and load. */
function fakeUnit(name: string, listed: string[] | undefined, patterns?: string[]): FakeUnit {
  const fake: FakeUnit = { state: "online", busy: 0, unit: undefined as unknown as UpstreamUnit };
  const models = () => patterns ?? listed ?? [];
  fake.unit = {
    name,
    models,
    serves: (m: string) =>
      patterns
        ? patterns.some((p) => p === m || (p.endsWith("*") && m.startsWith(p.slice(0, -1))))
        : models().some((id) => modelNames(id).includes(m)),
    load: () => fake.busy,
    monitor: {
      get status() {
        return { state: fake.state, since: 0, props: listed === undefined ? undefined : { models: listed } };
      },
    },
  } as unknown as UpstreamUnit;
  return fake;
}

const settings = (s: Partial<Fleet> = {}): Fleet => ({ upstreams: [], aliases: [], ...s });
const host = (unit: UpstreamUnit): FleetHost => ({
  name: unit.name,
  upstream: unit.upstream,
  monitor: unit.monitor,
  units: () => [unit],
  serverUnit: unit,
  start: async () => {},
  close: async () => {},
});
const fleetOf = (units: UpstreamUnit[], s: Fleet) => {
  const [first, ...rest] = units.map(host);
  if (!first) throw new Error("no units");
  return new UpstreamFleet([first, ...rest], s);
};
const names = (units: UpstreamUnit[]) => units.map((u) => u.name);

describe("the fleet", () => {
  const a = fakeUnit("a", ["/models/qwen3-coder.gguf"]);
  const b = fakeUnit("b", ["/models/qwen3-coder.gguf"]);
  const small = fakeUnit("small", ["qwen3-4b"]);
  const fleet = fleetOf(
    [a.unit, b.unit, small.unit],
    settings({
      aliases: [
        { pattern: "claude-haiku-*", model: "qwen3-4b" },
        { pattern: "claude-*", model: "qwen3-coder" },
      ],
    }),
  );

  it("routes by model, by the names a model file answers to, after aliases in their order", () => {
    expect(names(fleet.choose("qwen3-4b").units)).toEqual(["small"]);
    expect(names(fleet.choose("qwen3-coder.gguf").units)).toEqual(["a", "b"]);
    expect(fleet.choose("claude-haiku-4-5")).toMatchObject({ aliasedTo: "qwen3-4b" });
    expect(fleet.choose("claude-sonnet-4-5")).toMatchObject({ aliasedTo: "qwen3-coder" });
    expect(names(fleet.choose(undefined).units)).toEqual(["a"]);
  });

  it("refuses a model no upstream serves with an error listing the models and aliases", () => {
    let err: SidecarError | undefined;
    try {
      fleet.choose("gpt-5");
    } catch (e) {
      err = e as SidecarError;
    }
    expect(err?.status).toBe(404);
    expect(err?.message).toBe(
      'model "gpt-5" is not served here; models: /models/qwen3-coder.gguf, qwen3-4b; aliases: claude-haiku-* -> qwen3-4b, claude-* -> qwen3-coder',
    );
    expect(errorBody(err as SidecarError, "openai")).toMatchObject({
      error: { type: "invalid_request_error", code: "model_not_found" },
    });
    expect(errorBody(err as SidecarError, "anthropic")).toMatchObject({
      type: "error",
      error: { type: "not_found_error" },
    });
  });

  it("sends an unknown model to the default upstream where one is set", () => {
    const withDefault = fleetOf([a.unit, small.unit], settings({ defaultUpstream: "small" }));
    expect(names(withDefault.choose("gpt-5").units)).toEqual(["small"]);
    expect(withDefault.primary.name).toBe("small");
  });

  it("puts healthy upstreams first, then the one holding the conversation, then the least loaded", () => {
    a.busy = 1;
    b.busy = 0;
    expect(names(fleet.choose("qwen3-coder").units)).toEqual(["b", "a"]);
    fleet.served("s:one", a.unit);
    expect(names(fleet.choose("qwen3-coder", "s:one").units)).toEqual(["a", "b"]);
    expect(names(fleet.choose("qwen3-coder", "s:other").units)).toEqual(["b", "a"]);
    a.state = "unreachable";
    expect(names(fleet.choose("qwen3-coder", "s:one").units)).toEqual(["b", "a"]);
    a.state = "online";
    a.busy = 0;
  });

  it("tries an upstream that never listed its models rather than call the model unknown", () => {
    const never = fakeUnit("never", undefined);
    never.state = "unreachable";
    const f = fleetOf([never.unit], settings());
    expect(names(f.choose("anything").units)).toEqual(["never"]);
  });

  it("lists the union of the models, each once, with the upstreams serving it and the exact aliases", () => {
    const listing = fleetOf(
      [a.unit, b.unit, small.unit],
      settings({
        aliases: [
          { pattern: "claude-*", model: "qwen3-coder" },
          { pattern: "sonnet", model: "qwen3-coder" },
        ],
      }),
    ).modelList() as { data: { id: string; upstreams?: string[]; alias_of?: string }[] };
    expect(listing.data.map((m) => [m.id, m.upstreams ?? m.alias_of])).toEqual([
      ["/models/qwen3-coder.gguf", ["a", "b"]],
      ["qwen3-4b", ["small"]],
      ["sonnet", "qwen3-coder"],
    ]);
  });
});
