import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { matchesModel } from "../../../src/config/upstreams.js";
import { config, problems } from "../../support/config.js";

const dir = mkdtempSync(join(tmpdir(), "sidecar-config-"));
let n = 0;
function file(text: string, ext = "yaml"): string {
  const path = join(dir, `c${++n}.${ext}`);
  writeFileSync(path, text);
  return path;
}

describe("upstreams from flags", () => {
  it("makes --upstream one upstream named default, which also takes models no upstream lists", () => {
    const c = config(["--upstream", "http://gpu:8080/"]);
    expect(c.upstreams).toEqual([{ name: "default", url: "http://gpu:8080", apiKey: undefined }]);
    expect(c.defaultUpstream).toBe("default");
    expect(c.backgroundUpstream).toBeUndefined();
  });

  it("makes --background-upstream an upstream named background, where route sends background calls", () => {
    const c = config(["--background-upstream", "http://small:8081", "--background-haiku", "route"]);
    expect(c.upstreams.map((u) => [u.name, u.url])).toEqual([
      ["default", "http://127.0.0.1:8080"],
      ["background", "http://small:8081"],
    ]);
    expect(c.backgroundUpstream).toBe("background");
  });

  it("refuses policy route without a background upstream, naming the setting", () => {
    expect(problems(["--background-title", "route"])).toEqual([
      `--background-title="route": policy 'route' needs a background upstream (--background-upstream, or background: <name> in the config file)`,
    ]);
  });
});

describe("the config file", () => {
  it("reads upstreams, aliases, default and background from YAML, and settings by their names", () => {
    const path = file(`
port: 7000
capture-content: true
upstreams:
  - name: big
    url: http://10.0.0.2:8080/
    models: [qwen3-coder, "glm-*"]
  - name: small
    url: http://10.0.0.3:8080
    apiKey: small-secret-key
aliases:
  claude-haiku-*: qwen3-4b
  claude-*: qwen3-coder
background: small
`);
    // A setting by its flag's name is not a setting: names are the config names (captureContent).
    expect(problems(["--config", path])).toEqual([
      `${path}: capture-content: not a setting (see llama-sidecar --help)`,
    ]);
    const c = config(["--config", file(`port: 7000\ncaptureContent: true\n${readUpstreams(path)}`)]);
    expect(c.port).toBe(7000);
    expect(c.captureContent).toBe(true);
    expect(c.upstreams).toEqual([
      { name: "big", url: "http://10.0.0.2:8080", apiKey: undefined, models: ["qwen3-coder", "glm-*"] },
      { name: "small", url: "http://10.0.0.3:8080", apiKey: "small-secret-key", models: undefined },
    ]);
    expect(c.aliases).toEqual([
      { pattern: "claude-haiku-*", model: "qwen3-4b" },
      { pattern: "claude-*", model: "qwen3-coder" },
    ]);
    expect(c.defaultUpstream).toBeUndefined();
    expect(c.backgroundUpstream).toBe("small");
  });

  it("reads JSON too, and lets env vars and flags win over the file", () => {
    const path = file(
      JSON.stringify({ port: 7000, queueMax: 5, upstreams: [{ name: "a", url: "http://a:1" }] }),
      "json",
    );
    expect(config(["--config", path]).port).toBe(7000);
    expect(config(["--config", path], { LLAMA_SIDECAR_PORT: "7001" }).port).toBe(7001);
    expect(config(["--config", path, "--port", "7002"], { LLAMA_SIDECAR_PORT: "7001" }).port).toBe(7002);
    expect(config([], { LLAMA_SIDECAR_CONFIG: path }).queueMax).toBe(5);
  });

  it("reports every problem by the file and the path inside it, before anything starts", () => {
    const path = file(`
port: 99999
colour: blue
upstreams:
  - name: big
    url: ftp://x
    model: [a]
  - name: big
    url: http://b:1
    models: []
aliases:
  claude-*: nowhere
default: gpu9
`);
    expect(problems(["--config", path]).sort()).toEqual(
      [
        `${path}: colour: not a setting (see llama-sidecar --help)`,
        `${path}: port="99999": Too big: expected number to be <=65535`,
        `${path}: upstreams[0].url: must be an http:// or https:// URL`,
        `${path}: upstreams[0].model: not a known key`,
        `${path}: upstreams[1].models: list at least one model, or leave models out to use /v1/models`,
      ].sort(),
    );
    // Once each entry is well formed, what they say together is checked.
    const together = file(`
upstreams:
  - { name: big, url: "http://a:1", models: [qwen3-coder] }
  - { name: big, url: "http://b:1", models: [qwen3-4b] }
aliases:
  claude-*: nowhere
default: gpu9
`);
    expect(problems(["--config", together]).sort()).toEqual(
      [
        `${together}: upstreams[1].name: "big" is used twice`,
        `${together}: default: no upstream is named "gpu9" (there are: big, big)`,
      ].sort(),
    );
    const alias = file(`
upstreams:
  - { name: big, url: "http://a:1", models: [qwen3-coder] }
aliases:
  claude-*: nowhere
`);
    expect(problems(["--config", alias])).toEqual([`${alias}: aliases["claude-*"]: no upstream serves "nowhere"`]);
  });

  it("says where each upstream's GPU is read and which GPUs it runs on; --gpu-source is the default", () => {
    const path = file(`
upstreams:
  - { name: here0, url: "http://127.0.0.1:8080", gpus: [0] }
  - { name: here1, url: "http://127.0.0.1:8081", gpus: ["1"] }
  - { name: mac, url: "http://mac.lan:8080", gpuSource: "http://mac.lan:9090/metrics" }
`);
    expect(config(["--config", path]).upstreams.map((u) => [u.name, u.gpuSource, u.gpus])).toEqual([
      ["here0", undefined, ["0"]],
      ["here1", undefined, ["1"]],
      ["mac", "http://mac.lan:9090/metrics", undefined],
    ]);
    const dcgm = "http://gpu-box:9400/metrics";
    expect(config(["--config", path, "--gpu-source", dcgm]).upstreams.map((u) => u.gpuSource)).toEqual([
      dcgm,
      dcgm,
      "http://mac.lan:9090/metrics",
    ]);
    const bad = file(`
upstreams:
  - { name: a, url: "http://a:1", gpus: [first], gpuSource: "ftp://a/metrics" }
`);
    expect(problems(["--config", bad]).sort()).toEqual(
      [
        `${bad}: upstreams[0].gpus[0]: must be a GPU index such as 0`,
        `${bad}: upstreams[0].gpuSource: must be an http:// or https:// URL`,
      ].sort(),
    );
  });

  it("refuses --upstream beside the file's upstreams, and a file it cannot read or parse", () => {
    const path = file(`upstreams: [{ name: a, url: "http://a:1" }]`);
    expect(problems(["--config", path, "--upstream", "http://b:1"])).toEqual([
      "--upstream: give one upstream here or the config file's upstreams, not both",
    ]);
    expect(problems(["--config", join(dir, "missing.yaml")])[0]).toMatch(/missing\.yaml: cannot read it \(ENOENT\)/);
    expect(problems(["--config", file("upstreams: [")])[0]).toMatch(/: not YAML or JSON: /);
    expect(problems(["--config", file("- a\n- b\n")])[0]).toMatch(/: must hold a mapping of settings$/);
  });

  it("reads an upstream's key from a file beside the config, and never echoes a key", () => {
    writeFileSync(join(dir, "gpu.key"), "from-a-file-key\n");
    const path = file(`upstreams: [{ name: a, url: "http://a:1", apiKeyFile: gpu.key }]`);
    expect(config(["--config", path]).upstreams[0]?.apiKey).toBe("from-a-file-key");
    const short = file(`upstreams: [{ name: a, url: "http://a:1", apiKey: short }]`);
    expect(problems(["--config", short]).join("\n")).not.toContain("short:");
  });

  it("reads the sidecar's own key file beside the config too, wherever it is started from (issue 26)", () => {
    writeFileSync(join(dir, "sidecar.key"), "sidecar-file-key\n");
    const path = file("apiKeyFile: sidecar.key\nupstreamApiKeyFile: gpu.key\n");
    expect(config(["--config", path])).toMatchObject({ apiKey: "sidecar-file-key", upstreamApiKey: "from-a-file-key" });
    expect(config([], { LLAMA_SIDECAR_CONFIG: path }).apiKey).toBe("sidecar-file-key");
  });

  it("refuses a user or password in an upstream's URL, naming where", () => {
    const path = file(`upstreams: [{ name: a, url: "http://u:pw@a:1" }]`);
    expect(problems(["--config", path]).join("\n")).toMatch(/upstreams\[0\]\.url: must not hold a user or password/);
  });
});

describe("model patterns", () => {
  it("match a name exactly, or with * standing for any run of characters", () => {
    expect(matchesModel("qwen3", "qwen3")).toBe(true);
    expect(matchesModel("qwen3", "qwen3-4b")).toBe(false);
    expect(matchesModel("claude-*", "claude-sonnet-4-5")).toBe(true);
    expect(matchesModel("claude-*-4-5", "claude-sonnet-4-5")).toBe(true);
    expect(matchesModel("claude-*-4-5", "claude-4-5")).toBe(false);
    expect(matchesModel("*", "anything")).toBe(true);
    expect(matchesModel("a*b*c", "abc")).toBe(true);
    expect(matchesModel("a*b*c", "acb")).toBe(false);
    expect(matchesModel("ab*ba", "aba")).toBe(false);
  });
});

/** The upstreams, aliases and background part of a config file, for a variant of it. */
function readUpstreams(path: string): string {
  const text = readFileSync(path, "utf8");
  return text.slice(text.indexOf("upstreams:"));
}
