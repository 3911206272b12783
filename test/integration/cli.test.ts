// The real CLI process: config errors before binding, the banner, and following llama-server's state.
import { once } from "node:events";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type CliProcess, startCli } from "../support/cli-process.js";
import { fixture, startFakeLlama } from "../support/fake-llama.js";
import { freePort } from "../support/llama-server.js";

const running: CliProcess[] = [];

afterEach(async () => {
  for (const cli of running.splice(0)) await cli.stop();
});

function start(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const cli = startCli(args, env);
  running.push(cli);
  return cli;
}

async function portIsFree(port: number): Promise<boolean> {
  const srv = createServer();
  try {
    srv.listen(port, "127.0.0.1");
    await once(srv, "listening");
    return true;
  } catch {
    return false;
  } finally {
    srv.close();
  }
}

describe("llama-sidecar CLI", () => {
  it("exits 2 on bad settings, naming each one, without binding the port", async () => {
    const port = await freePort();
    const cli = start(["--port", String(port), "--upstream", "not a url"], { LLAMA_SIDECAR_HEALTH_INTERVAL: "-3" });
    const [code] = await once(cli.proc, "exit");
    expect(code).toBe(2);
    expect(cli.output()).toMatch(/--upstream="not a url"/);
    expect(cli.output()).toMatch(/LLAMA_SIDECAR_HEALTH_INTERVAL="-3"/);
    expect(await portIsFree(port)).toBe(true);
  });

  it("prints help naming flags and env vars", async () => {
    const cli = start(["--help"]);
    const [code] = await once(cli.proc, "exit");
    expect(code).toBe(0);
    expect(cli.output()).toContain("--upstream");
    expect(cli.output()).toContain("LLAMA_SIDECAR_PORT");
  });

  it("starts while llama-server is down, says so, and logs when it comes online", async () => {
    const upstreamPort = await freePort();
    const port = await freePort();
    const dataDir = `/tmp/llama-sidecar-cli-${port}`;
    const cli = start([
      "--port",
      String(port),
      "--upstream",
      `http://127.0.0.1:${upstreamPort}`,
      "--health-interval",
      "0.2",
      "--log-format",
      "json",
      "--data-dir",
      dataDir,
    ]);
    const banner = await cli.waitFor(/={10,}\n\n?[\s\S]*={10,}/);
    expect(banner).toContain(`Proxy URL : http://127.0.0.1:${port}`);
    expect(banner).toMatch(/Upstream\s+: http:\/\/127\.0\.0\.1:\d+\s+unreachable/);
    expect(banner).toContain(`/metrics`);
    // It serves while llama-server is down: an error in the client's protocol, not a refused connection.
    const res = await fetch(`http://127.0.0.1:${port}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ messages: [] }), // the least the API takes
    });
    expect(res.status).toBe(502);

    const fake = await startFakeLlama();
    try {
      // Move the fake onto the port the sidecar watches.
      await fake.close();
      fake.server.listen(upstreamPort, "127.0.0.1");
      await once(fake.server, "listening");
      const log = await cli.waitFor(/llama-server is online/);
      expect(log).toMatch(/"was":"unreachable"/);
      const ok = await fetch(`http://127.0.0.1:${port}/health`);
      expect(ok.status).toBe(200);
    } finally {
      await fake.close();
    }
  });

  it("reports a loading llama-server in the banner", async () => {
    const fake = await startFakeLlama();
    fake.state = "loading";
    try {
      const cli = start(["--port", "0", "--upstream", fake.url, "--data-dir", "/tmp/llama-sidecar-cli-loading"]);
      const out = await cli.waitFor(/Upstream.*\n/);
      expect(out).toMatch(/loading model/);
    } finally {
      await fake.close();
    }
  });
});

/** Whether something accepts connections on a local port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

describe("OpenTelemetry export", () => {
  it("has port 9464 free on this machine, for the check below that the sidecar opens nothing there", async () => {
    expect(await listening(9464)).toBe(false);
  });

  it("sends spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
    const received: { path: string; type: string; body: Buffer }[] = [];
    const collector = createHttpServer(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      received.push({ path: req.url ?? "", type: String(req.headers["content-type"]), body: Buffer.concat(parts) });
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
    collector.listen(0, "127.0.0.1");
    await once(collector, "listening");
    const fake = await startFakeLlama();
    const port = await freePort();
    const cli = start(
      ["--port", String(port), "--upstream", fake.url, "--data-dir", `/tmp/llama-sidecar-otlp-${port}`],
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as { port: number }).port}`,
        OTEL_BSP_SCHEDULE_DELAY: "100",
        OTEL_SERVICE_NAME: "sidecar-under-test",
        // NodeSDK would open a second, unbound Prometheus endpoint on 9464 for this; /metrics already serves it.
        OTEL_METRICS_EXPORTER: "prometheus",
      },
    );
    try {
      await cli.waitFor(/Proxy URL/);
      const f = fixture("post-v1-chat-completions-stream");
      await (
        await fetch(`http://127.0.0.1:${port}${f.request.path}`, {
          method: "POST",
          body: JSON.stringify(f.request.body),
        })
      ).text();
      const deadline = Date.now() + 10_000;
      while (!received.some((r) => r.path === "/v1/traces") && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const traces = received.find((r) => r.path === "/v1/traces");
      expect(traces?.type).toBe("application/x-protobuf");
      // Protobuf keeps strings as UTF-8: the span name, attribute names and the service name are in the payload.
      expect(traces?.body.includes("chat tiny")).toBe(true);
      expect(traces?.body.includes("gen_ai.usage.output_tokens")).toBe(true);
      expect(traces?.body.includes("sidecar-under-test")).toBe(true);
      expect(await listening(9464)).toBe(false);
    } finally {
      await cli.stop();
      await fake.close();
      collector.close();
    }
  });

  it("pushes metrics over OTLP when OTEL_METRICS_EXPORTER=otlp, without turning on traces", async () => {
    const received: { path: string; body: string }[] = [];
    const collector = createHttpServer(async (req, res) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      received.push({ path: req.url ?? "", body: Buffer.concat(parts).toString("utf8") });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    collector.listen(0, "127.0.0.1");
    await once(collector, "listening");
    const fake = await startFakeLlama();
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${(collector.address() as { port: number }).port}`;
    const cli = start(
      ["--port", String(port), "--upstream", fake.url, "--data-dir", `/tmp/llama-sidecar-otlp-metrics-${port}`],
      {
        OTEL_METRICS_EXPORTER: "otlp,prometheus",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${endpoint}/v1/metrics`,
        OTEL_METRIC_EXPORT_INTERVAL: "200",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test-rig",
      },
    );
    try {
      await cli.waitFor(/Proxy URL/);
      const f = fixture("post-v1-chat-completions-stream");
      const url = `http://127.0.0.1:${port}${f.request.path}`;
      await (await fetch(url, { method: "POST", body: JSON.stringify(f.request.body) })).text();
      const deadline = Date.now() + 10_000;
      const withRequests = () => received.find((r) => r.body.includes('"llama_sidecar.time_to_first_token_seconds"'));
      while (!withRequests() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const payload = JSON.parse(withRequests()?.body ?? "{}");
      const resource = JSON.stringify(payload.resourceMetrics?.[0]?.resource);
      expect(resource).toContain("llama-sidecar");
      expect(resource).toContain("test-rig");
      expect(withRequests()?.path).toBe("/v1/metrics");
      expect(withRequests()?.body).toContain('"llama_sidecar.requests"');
      expect(received.some((r) => r.path === "/v1/traces")).toBe(false);
    } finally {
      await cli.stop();
      await fake.close();
      collector.close();
    }
  });
});
