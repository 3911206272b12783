// The request ledger's key codec: every kind of key read back whole whatever a client put in it, laid out in the
// order keys have on disk, and keys from before escaping and before upstreams read back as they were written.
import { describe, expect, it } from "vitest";
import {
  type BackgroundKey,
  decodeKey,
  encodeKey,
  ledgerModels,
  type RequestKey,
  splitKey,
  type TokenKey,
  withUpstream,
} from "../../../src/store/ledger-keys.js";

const AWKWARD = ["a|b", "50%", "%7C", "%25", "", "|", "%", "x|%|y", "%%7C|"];

describe("ledger keys", () => {
  it("reads back every field of every kind of key, whatever the values", () => {
    for (const [i, v] of AWKWARD.entries()) {
      const w = AWKWARD[(i + 1) % AWKWARD.length] ?? "";
      const request: RequestKey = { route: v, model: w, client: v, outcome: w, upstream: v };
      const tokens: TokenKey = { model: v, client: w, upstream: "" };
      const background: BackgroundKey = { backgroundClass: w, policy: v, outcome: "" };
      expect(decodeKey("requests", encodeKey("requests", request))).toEqual(request);
      expect(decodeKey("tokens", encodeKey("tokens", tokens))).toEqual(tokens);
      expect(decodeKey("background", encodeKey("background", background))).toEqual(background);
    }
    const empty: RequestKey = { route: "", model: "", client: "", outcome: "", upstream: "" };
    expect(encodeKey("requests", empty)).toBe("||||");
    expect(decodeKey("requests", "||||")).toEqual(empty);
  });

  it("lays fields out in the one order keys have on disk, so stats files and journals read back as written", () => {
    const request: RequestKey = { route: "/v1/messages", model: "m", client: "c", outcome: "ok", upstream: "gpu0" };
    expect(encodeKey("requests", request)).toBe("/v1/messages|m|c|ok|gpu0");
    // A token key is the request key's model, client and upstream, in the same order.
    expect(encodeKey("tokens", request)).toBe("m|c|gpu0");
    expect(encodeKey("background", { backgroundClass: "quota", policy: "local", outcome: "ok" })).toBe(
      "quota|local|ok",
    );
    expect(decodeKey("tokens", "m|c|gpu0")).toEqual({ model: "m", client: "c", upstream: "gpu0" });
    expect(decodeKey("background", "title|forward|upstream_error")).toEqual({
      backgroundClass: "title",
      policy: "forward",
      outcome: "upstream_error",
    });
    // Escaped values never add a part.
    expect(splitKey(encodeKey("requests", { ...request, model: "a|b|c" }))).toHaveLength(5);
  });

  it("reads keys written before escaping and before keys named the upstream", () => {
    expect(decodeKey("requests", "/v1/messages|tiny|claude-code|ok")).toEqual({
      route: "/v1/messages",
      model: "tiny",
      client: "claude-code",
      outcome: "ok",
      upstream: "",
    });
    expect(decodeKey("tokens", "50%|other")).toEqual({ model: "50%", client: "other", upstream: "" });
  });

  it("names the one upstream in keys from before upstreams, keeps the others, and never merges two old keys", () => {
    const old = {
      requests: { "/v1/messages|m|c|ok": 2, "/v1/messages|m|c|ok|gpu1": 3, "/v1/messages|50%|c|ok": 1 },
      tokens: { "m|c": { prompt: 5 }, "m|c|": { prompt: 7 }, "50%25|c": { prompt: 1 }, "50%|c": { prompt: 2 } },
      background: { "quota|local|local": 1 },
    };
    const upgraded = withUpstream(old, "gpu|0");
    expect(upgraded.requests).toEqual({
      "/v1/messages|m|c|ok|gpu%7C0": 2,
      "/v1/messages|m|c|ok|gpu1": 3,
      "/v1/messages|50%|c|ok|gpu%7C0": 1,
    });
    // "50%25" (escaped) and "50%" (from before escaping) both read "50%": still two entries, both counted.
    expect(upgraded.tokens).toEqual({
      "m|c|gpu%7C0": { prompt: 5 },
      "m|c|": { prompt: 7 },
      "50%25|c|gpu%7C0": { prompt: 1 },
      "50%|c|gpu%7C0": { prompt: 2 },
    });
    expect(Object.keys(upgraded.tokens).map((k) => decodeKey("tokens", k).upstream)).toEqual([
      "gpu|0",
      "",
      "gpu|0",
      "gpu|0",
    ]);
    expect(upgraded.background).toBe(old.background);
  });

  it("finds the models of both keyed maps by name", () => {
    const ledger = {
      requests: { [encodeKey("requests", { route: "/r", model: "a|b", client: "c", outcome: "ok", upstream: "" })]: 1 },
      tokens: { [encodeKey("tokens", { model: "%", client: "c", upstream: "u" })]: {} },
    };
    expect(ledgerModels(ledger).sort()).toEqual(["%", "a|b"]);
  });
});
