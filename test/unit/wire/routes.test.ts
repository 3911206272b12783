import { describe, expect, it } from "vitest";
import { judgeOrigin } from "../../../src/guard/origin.js";
import { classify } from "../../../src/wire/routes.js";
import { config, problems } from "../../support/config.js";

describe("routes", () => {
  it.each([
    ["/v1/chat/completions", "openai-chat", "openai"],
    ["/v1/messages", "anthropic-messages", "anthropic"],
    ["/v1/completions", "openai-completion", "openai"],
    ["/completion", "llama-completion", "openai"],
  ])("%s is observed as %s", (path, dialect, protocol) => {
    expect(classify(path)).toMatchObject({ label: path, dialect, protocol });
  });

  it("keeps unknown paths as one bounded label, in the right protocol", () => {
    expect(classify("/v1/messages/batches")).toEqual({ label: "other", protocol: "anthropic" });
    expect(classify("/some/thing")).toEqual({ label: "other", protocol: "openai" });
    expect(classify("/v1/messages/count_tokens")).toMatchObject({
      label: "/v1/messages/count_tokens",
      protocol: "anthropic",
    });
  });

  it("takes any scheme's origin in --allowed-origins (extensions, apps), never a path", () => {
    expect(config(["--allowed-origins", "http://localhost:3000, chrome-extension://abc"]).allowedOrigins).toEqual([
      "http://localhost:3000",
      "chrome-extension://abc",
    ]);
    expect(problems(["--allowed-origins", "http://x/path"]).join("")).toMatch(/must be an origin/);
  });

  it("judges browser origins: its own and allowed pass, others and other sites' fetches do not, following a link does", () => {
    const allowed = new Set(["http://localhost:3000"]);
    const h = (headers: Record<string, string>, method = "GET") =>
      judgeOrigin(method, { host: "127.0.0.1:9090", ...headers }, allowed);
    expect(h({})).toBe("none");
    expect(h({ origin: "http://127.0.0.1:9090" })).toBe("same");
    expect(h({ origin: "http://localhost:3000" })).toBe("allowed");
    expect(h({ origin: "http://evil.example" })).toBe("refused");
    expect(h({ origin: "null" })).toBe("refused");
    expect(h({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" })).toBe("refused");
    expect(h({ "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate" })).toBe("none");
    // A form's cross-site POST navigates too, but is no link followed (issue 26).
    expect(h({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" }, "POST")).toBe("refused");
    expect(h({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" }, "HEAD")).toBe("none");
  });
});
