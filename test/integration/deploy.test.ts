// The deployment files, checked with the real tools: promtool, amtool, Debian's docker-compose; and the
// production install, proven without a Docker engine by installing the packed tarball with production deps only.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProtobufLogsSerializer } from "@opentelemetry/otlp-transformer";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/load.js";
import { DCGM_FIELDS } from "../../src/gpu/dcgm.js";
import { startCli } from "../support/cli-process.js";
import { dashboard, metricNames, panelQueries, paths, ruleExpressions } from "../support/deploy-files.js";
import { startFakeLlama } from "../support/fake-llama.js";
import { toolPath } from "../support/tools.js";

function run(
  tool: string,
  args: string[],
  cwd = paths.root,
  env: NodeJS.ProcessEnv = process.env,
): { code: number | null; out: string } {
  const r = spawnSync(toolPath(tool), args, { cwd, encoding: "utf8", env });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The environment a user's .env gives compose: a Grafana password chosen, nothing else set. */
const composeEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  GRAFANA_ADMIN_PASSWORD: "chosen-by-the-user",
  ...extra,
});

describe("Prometheus and Alertmanager files", () => {
  it("pass promtool check config and check rules", () => {
    const config = run("promtool", ["check", "config", paths.prometheus]);
    expect(config.out).toMatch(/SUCCESS: .*prometheus\.yml is valid/);
    expect(config.code).toBe(0);
    const rules = run("promtool", ["check", "rules", paths.rules]);
    expect(rules.out).toMatch(/SUCCESS: 14 rules found/);
    expect(rules.code).toBe(0);
  });

  it("include a multi-host example (file and DNS service discovery of several sidecars) that promtool accepts", () => {
    const config = run("promtool", ["check", "config", `${paths.root}deploy/prometheus/multi-host.yml`]);
    expect(config.out).toMatch(/SUCCESS: .*multi-host\.yml is valid/);
    expect(config.code).toBe(0);
    const targets = readFileSync(`${paths.root}deploy/prometheus/targets/sidecars.yml`, "utf8");
    expect(targets).toMatch(/targets: \[".+:9090", ".+:9090"\]/);
  });

  it("pass their promtool unit tests, one or more per alert", () => {
    const r = run("promtool", ["test", "rules", "tests/llama-sidecar.test.yml"], `${paths.root}deploy/prometheus`);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.code).toBe(0);
    const tests = readFileSync(paths.ruleTests, "utf8");
    const alerts = [...readFileSync(paths.rules, "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(alerts).toHaveLength(10);
    for (const alert of alerts) expect(tests).toContain(`alertname: ${alert}`);
  });

  it("has an Alertmanager config amtool accepts, with a receiver", () => {
    const r = run("amtool", ["check-config", paths.alertmanager]);
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.out).toMatch(/1 receivers/);
  });
});

interface Compose {
  deploy?: { resources?: { reservations?: { devices?: { capabilities?: string[] }[] } } };
}

describe("docker-compose files", () => {
  for (const [variant, files] of [
    ["CUDA (default)", ["docker-compose.yml", "docker-compose.override.yml"]],
    ["Metal host", ["docker-compose.yml", "docker-compose.metal.yml"]],
  ] as const) {
    it(`${variant}: docker-compose config accepts it, with every service of the stack`, () => {
      const args = files.flatMap((f) => ["-f", f]);
      const r = run("docker-compose", [...args, "config"], paths.root, composeEnv());
      expect(r.code).toBe(0);
      const services = run("docker-compose", [...args, "config", "--services"], paths.root, composeEnv())
        .out.trim()
        .split("\n")
        .sort();
      expect(services).toEqual([
        "alert-receiver",
        "alertmanager",
        "grafana",
        "jaeger",
        "llama-server",
        "prometheus",
        "sidecar",
      ]);
      expect(r.out).toContain("LLAMA_SIDECAR_UPSTREAM: http://llama-server:8080");
      if (variant.startsWith("CUDA")) {
        expect(r.out).toMatch(/driver: nvidia/);
        // The sidecar reads the GPU itself: nvidia-smi and NVML in its container, no CUDA.
        const sidecar = (parseYaml(r.out) as { services: Record<string, Compose> }).services.sidecar;
        expect(sidecar?.deploy?.resources?.reservations?.devices?.[0]?.capabilities).toEqual(["utility"]);
      } else expect(r.out).toMatch(/host\.docker\.internal/);
    });

    it(`${variant}: publishes every port on 127.0.0.1 only, and pins every image to a version`, () => {
      const args = files.flatMap((f) => ["-f", f]);
      const out = run("docker-compose", [...args, "config"], paths.root, composeEnv()).out;
      const published = [...out.matchAll(/^\s+- (\S+:\d+:\d+\/tcp)$/gm)].map((m) => m[1]);
      expect(published.length).toBe(5);
      for (const port of published) expect(port).toMatch(/^127\.0\.0\.1:/);
      const images = [...out.matchAll(/^\s+image: (\S+)$/gm)].map((m) => m[1] ?? "");
      expect(images.length).toBeGreaterThanOrEqual(6);
      for (const image of images.filter((i) => i !== "llama-sidecar:local")) {
        expect(image).toMatch(/:[^:]*\d[^:]*$/); // a tag with a version number
        expect(image).not.toMatch(/:latest$/);
      }
      // Opened to a LAN on purpose, with BIND_ADDRESS.
      const lan = run("docker-compose", [...args, "config"], paths.root, composeEnv({ BIND_ADDRESS: "0.0.0.0" })).out;
      for (const m of lan.matchAll(/^\s+- (\S+:\d+:\d+\/tcp)$/gm)) expect(m[1]).toMatch(/^0\.0\.0\.0:/);
    });
  }

  it("two GPUs: a second llama-server pinned to GPU 1, the sidecar given both as upstreams by its config file", () => {
    const args = ["-f", "docker-compose.yml", "-f", "docker-compose.two-gpus.yml"];
    const r = run("docker-compose", [...args, "config"], paths.root, composeEnv());
    expect(r.code).toBe(0);
    const services = run("docker-compose", [...args, "config", "--services"], paths.root, composeEnv()).out;
    expect(services.trim().split("\n")).toContain("llama-server-2");
    expect(r.out).toContain("LLAMA_SIDECAR_CONFIG: /etc/llama-sidecar/two-gpus.yaml");
    expect(r.out).toMatch(/device_ids:\s+- '0'/);
    expect(r.out).toMatch(/device_ids:\s+- '1'/);
    // The file the sidecar is given parses as the sidecar parses it, with the compose file's empty --upstream.
    const parsed = parseConfig(["--config", `${paths.root}deploy/sidecar/two-gpus.yaml`], {
      LLAMA_SIDECAR_UPSTREAM: "",
    });
    expect(parsed.kind === "config" && parsed.config.upstreams.map((u) => [u.name, u.url, u.gpus])).toEqual([
      ["gpu0", "http://llama-server:8080", ["0"]],
      ["gpu1", "http://llama-server-2:8080", ["1"]],
    ]);
    // The sidecar reads both GPUs with nvidia-smi: `utility` in its container.
    const sidecar = (parseYaml(r.out) as { services: Record<string, Compose> }).services.sidecar;
    expect(sidecar?.deploy?.resources?.reservations?.devices?.[0]?.capabilities).toEqual(["utility"]);
  });

  it("DCGM: NVIDIA's exporter, pinned, reading the fields the sidecar reads from it, and the sidecar pointed at it", () => {
    const args = ["-f", "docker-compose.yml", "-f", "docker-compose.override.yml", "-f", "docker-compose.dcgm.yml"];
    const r = run("docker-compose", [...args, "config"], paths.root, composeEnv());
    expect(r.code).toBe(0);
    const config = parseYaml(r.out) as {
      services: Record<string, Compose & { image?: string; environment?: Record<string, string> }>;
    };
    expect(config.services["dcgm-exporter"]?.image).toMatch(/^nvcr\.io\/nvidia\/k8s\/dcgm-exporter:\d[\w.-]+$/);
    const url = config.services.sidecar?.environment?.LLAMA_SIDECAR_GPU_SOURCE;
    expect(url).toBe("http://dcgm-exporter:9400/metrics");
    // Every field the sidecar reads a GPU from is in the exporter's list (the old name of the clock reasons aside).
    const csv = readFileSync(join(paths.root, "deploy/dcgm/counters.csv"), "utf8");
    const listed = new Set([...csv.matchAll(/^(DCGM_FI_\w+)\s*,/gm)].map((m) => m[1]));
    const read = ["utilization", "memoryUsed", "memoryFree", "power", "powerLimit", "temperature", "smClock"] as const;
    for (const key of [...read, "smClockMax", "reasons"] as const) expect(listed).toContain(DCGM_FIELDS[key]);
    const sidecarConfig = parseConfig(["--upstream", "http://llama-server:8080"], { LLAMA_SIDECAR_GPU_SOURCE: url });
    expect(sidecarConfig.kind === "config" && sidecarConfig.config.upstreams[0]?.gpuSource).toBe(url);
  });

  it("Metal host: the sidecar reads the Mac's GPU from macmon serve on the host, where .env names it", () => {
    const args = ["-f", "docker-compose.yml", "-f", "docker-compose.metal.yml"];
    const source = "http://host.docker.internal:9095/json";
    const env = (over: Record<string, string>) =>
      (
        parseYaml(run("docker-compose", [...args, "config"], paths.root, composeEnv(over)).out) as {
          services: Record<string, { environment?: Record<string, string>; extra_hosts?: string[] | object }>;
        }
      ).services.sidecar;
    const sidecar = env({ MACMON_SOURCE: source });
    expect(sidecar?.environment?.LLAMA_SIDECAR_GPU_SOURCE).toBe(source);
    expect(JSON.stringify(sidecar?.extra_hosts)).toContain("host.docker.internal");
    // Unset: an empty value, which the sidecar takes as no source at all.
    expect(env({})?.environment?.LLAMA_SIDECAR_GPU_SOURCE ?? "").toBe("");
    const parsed = parseConfig([], { LLAMA_SIDECAR_GPU_SOURCE: "" });
    expect(parsed.kind === "config" && parsed.config.upstreams[0]?.gpuSource).toBeUndefined();
  });

  it("refuses to start Grafana without a password chosen in .env, saying so", () => {
    const r = run("docker-compose", ["config"], paths.root, { PATH: process.env.PATH });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/GRAFANA_ADMIN_PASSWORD/);
  });
});

describe("installs that reproduce", () => {
  it("has a lockfile with every platform's optional packages, each with its integrity, so npm ci takes it anywhere", () => {
    const lock = JSON.parse(readFileSync(join(paths.root, "package-lock.json"), "utf8")) as {
      packages: Record<string, { optionalDependencies?: Record<string, string>; integrity?: string; link?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([k]) => k !== "");
    const missing: string[] = [];
    for (const [key, pkg] of entries) {
      for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
        // npm looks for a dependency beside the package first, then up the tree.
        const parts = key.split("node_modules/");
        const found = parts.some(
          (_, i) => lock.packages[`${parts.slice(0, i + 1).join("node_modules/")}node_modules/${dep}`],
        );
        if (!found) missing.push(`${key} -> ${dep}`);
      }
    }
    expect(missing).toEqual([]);
    expect(entries.filter(([, p]) => !p.link && !p.integrity).map(([k]) => k)).toEqual([]);
    for (const platform of ["@biomejs/cli-darwin-arm64", "@biomejs/cli-win32-x64", "@esbuild/darwin-arm64"]) {
      expect(lock.packages[`node_modules/${platform}`], platform).toBeDefined();
    }
  });

  it("keeps test-only packages out of the production dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(paths.root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    for (const testOnly of [
      "@opentelemetry/sdk-trace-base",
      "vitest",
      "playwright-core",
      "openai",
      "@anthropic-ai/sdk",
    ]) {
      expect(pkg.dependencies[testOnly], testOnly).toBeUndefined();
    }
  });
});

describe("Grafana provisioning", () => {
  it("has a dashboard templated by instance, upstream and model, covering every topic", () => {
    const d = dashboard();
    expect(d.templating.list.map((v) => v.name)).toEqual(["datasource", "instance", "upstream", "model"]);
    const titles = d.panels.map((p) => p.title).join(" | ");
    for (const topic of [
      /first token/i,
      /speed/i,
      /cache/i,
      /queue/i,
      /client and outcome/i,
      /background/i,
      /lifetime/i,
      /restarts/i,
      /slot/i,
      /agent time/i,
      /tools/i,
    ]) {
      expect(titles).toMatch(topic);
    }
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, meant literally
    for (const p of d.panels) expect(p.datasource.uid).toBe("${datasource}");
    for (const q of panelQueries()) expect(q.expr).toMatch(/instance=~"\$instance"/);
    // Every series that names an upstream is narrowed to the upstreams chosen; llama-server's own, to the models too.
    for (const q of panelQueries()) {
      if (
        /llama_server_|llama_sidecar_(upstream_up|queue_|requests_total|time_to_first|cache_|generation_slowdowns)/.test(
          q.expr,
        )
      )
        expect(q.expr).toMatch(/upstream=~"\$upstream"/);
      if (/llama_server_/.test(q.expr)) expect(q.expr).toMatch(/model=~"\$model"/);
    }
    const provisioned = readFileSync(`${paths.root}grafana/provisioning/datasources/datasources.yml`, "utf8");
    expect(provisioned).toContain("uid: prometheus");
    expect(provisioned).toContain("url: http://prometheus:9090");
  });

  it("names only metrics the sidecar exports (checked against a live /metrics in stack.test.ts)", () => {
    const names = metricNames([...panelQueries().map((q) => q.expr), ...ruleExpressions()]);
    expect(names.length).toBeGreaterThan(15);
    for (const n of names) expect(n).toMatch(/^llama_(sidecar|server)_/);
  });
});

describe("production install (what the Dockerfile's runtime stage holds)", () => {
  it("packs, installs with production dependencies only, and runs the CLI against a fake llama-server", async () => {
    const packDir = mkdtempSync(join(tmpdir(), "llama-sidecar-pack-"));
    const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", packDir], {
      cwd: paths.root,
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .pop();
    const app = mkdtempSync(join(tmpdir(), "llama-sidecar-prod-"));
    execFileSync("npm", ["init", "-y"], { cwd: app, stdio: "ignore" });
    execFileSync("npm", ["install", "--omit=dev", "--no-audit", "--no-fund", join(packDir, tarball ?? "")], {
      cwd: app,
      stdio: "pipe",
    });
    const installed = readdirSync(join(app, "node_modules"));
    for (const dev of ["typescript", "vitest", "@biomejs", "tsx", "openai", "playwright-core"])
      expect(installed).not.toContain(dev);
    const files = readdirSync(join(app, "node_modules/llama-sidecar/dist/dashboard/public"));
    expect(files).toContain("index.html");

    const fake = await startFakeLlama();
    const cli = startCli(
      ["--port", "0", "--upstream", fake.url, "--data-dir", join(app, "data"), "--log-format", "json"],
      {},
      [join(app, "node_modules/.bin/llama-sidecar")],
    );
    try {
      const out = await cli.waitFor(/Proxy URL : (http:\/\/\S+)/, 30_000);
      const url = /Proxy URL : (http:\/\/\S+)/.exec(out)?.[1] ?? "";
      expect(out).toMatch(/online/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect((await fetch(`${url}/dashboard`)).status).toBe(200);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [], stream: true }),
      });
      expect(await res.text()).toContain("data: [DONE]");
      // The OTLP receiver's protobuf files ship in the package: an export request decodes.
      const otlp = await fetch(`${url}/otlp/v1/logs`, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: Buffer.from(ProtobufLogsSerializer.serializeRequest([]) as Uint8Array),
      });
      expect(otlp.status).toBe(200);
      expect(otlp.headers.get("content-type")).toBe("application/x-protobuf");
    } finally {
      await cli.stop();
      await fake.close();
    }
  }, 240_000);
});
