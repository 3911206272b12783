// The ways around the key, tried against a sidecar with --api-key and --upstream-api-key in front of an upstream
// that resolves dot segments the way nginx, Caddy or Envoy do and counts what reaches it; and the rough edges that
// once locked real users out (issue 26). Each attack's "before" is in the closing note of that issue.
import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSidecar, type TestSidecar } from "../support/sidecar.js";
import { until } from "../support/until.js";

const KEY = "sk-sidecar-9c1e44aa";
const UPSTREAM_KEY = "sk-upstream-5b0d2e19";
const chat = JSON.stringify({ messages: [{ role: "user", content: "hi" }] });

/** An upstream that resolves "..", "." and their encodings in the path first (as WHATWG URLs and nginx do). */
interface ResolvingUpstream {
  url: string;
  seen: { path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

async function startResolvingUpstream(): Promise<ResolvingUpstream> {
  const seen: ResolvingUpstream["seen"] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://upstream").pathname;
    // The sidecar's own health checks and scrapes are not attacks: only what clients sent is counted.
    if (!["/health", "/props", "/metrics", "/slots", "/v1/models"].includes(path))
      seen.push({ path, headers: req.headers });
    res.writeHead(200, { "content-type": "application/json" });
    if (path === "/props")
      return void res.end(JSON.stringify({ default_generation_settings: { n_ctx: 4096 }, total_slots: 1 }));
    if (path === "/v1/models") return void res.end(JSON.stringify({ data: [{ id: "tiny" }] }));
    res.end(JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: "a completion" } }] }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

/** One HTTP/1.1 request with its target exactly as written (curl --path-as-is); the status and body back. */
function raw(base: string, method: string, target: string, headers: Record<string, string> = {}, body = "") {
  const { hostname, port } = new URL(base);
  return new Promise<{ status: number; head: string; body: string }>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Connection: close"];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      if (body) lines.push("Content-Type: application/json", `Content-Length: ${Buffer.byteLength(body)}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n${body}`);
    });
    let out = "";
    socket.on("data", (b) => {
      out += b;
    });
    socket.on("end", () => {
      const [head = "", rest = ""] = out.split("\r\n\r\n", 2);
      resolve({ status: Number(head.split(" ")[1]), head, body: rest });
    });
    socket.on("error", reject);
  });
}

let upstream: ResolvingUpstream;
let s: TestSidecar;

beforeAll(async () => {
  upstream = await startResolvingUpstream();
  s = await startTestSidecar(upstream.url, ["--api-key", KEY, "--upstream-api-key", UPSTREAM_KEY]);
});
afterAll(async () => {
  await s?.close();
  await upstream?.close();
});

describe("the ways around the key", () => {
  it("a path with dot segments or encoded slashes is refused with a 400 in the client's protocol, before any check", async () => {
    upstream.seen.length = 0;
    for (const target of [
      "/dashboard/../v1/chat/completions",
      "/dashboard/%2e%2e/v1/chat/completions",
      "/dashboard/.%2E/v1/chat/completions",
      "/./v1/chat/completions",
      "/v1/chat%2fcompletions",
      "/dashboard/..%2fv1/chat/completions",
      "/v1/chat/completions/x/..#",
    ]) {
      const r = await raw(s.url, "POST", target, {}, chat);
      expect(r.status, target).toBe(400);
      expect(JSON.parse(r.body).error.type, target).toBe("invalid_request_error");
    }
    const anthropic = await raw(s.url, "POST", "/v1/messages/../../v1/chat/completions", {}, chat);
    expect(JSON.parse(anthropic.body)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(upstream.seen).toEqual([]);
  });

  it("under /dashboard only its own files are open; any other path there, or under /api, is a local 404", async () => {
    upstream.seen.length = 0;
    for (const path of ["/dashboard", "/dashboard/", "/dashboard/app.js", "/DASHBOARD/APP.JS", "/dashboard/uplot.css"])
      expect((await raw(s.url, "GET", path)).status, path).toBe(200);
    const auth = { authorization: `Bearer ${KEY}` };
    for (const [method, path] of [
      ["GET", "/dashboard/props"],
      ["POST", "/dashboard/v1/chat/completions"],
      ["GET", "/api/nothing"],
      ["GET", "/API/nothing"],
    ]) {
      const r = await raw(s.url, method as string, path as string, auth, method === "POST" ? chat : "");
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.body).error.type).toBe("not_found_error");
    }
    expect(upstream.seen).toEqual([]);
    // llama-server's own Ollama-style routes under /api go on to it, with the key.
    expect((await raw(s.url, "GET", "/api/tags")).status).toBe(401);
    expect((await raw(s.url, "GET", "/api/tags", auth)).status).toBe(200);
    expect(upstream.seen.map((x) => x.path)).toEqual(["/api/tags"]);
  });

  it("the metrics and health check stay open as the router serves them: /metrics/, /METRICS", async () => {
    for (const path of ["/metrics", "/metrics/", "/METRICS", "/healthz/"])
      expect((await raw(s.url, "GET", path)).status, path).toBe(200);
  });

  it("a form's cross-site POST (Sec-Fetch-Mode: navigate) is refused; following a link still works", async () => {
    const nav = { "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "cross-site", authorization: `Bearer ${KEY}` };
    expect((await raw(s.url, "POST", "/v1/chat/completions", nav, chat)).status).toBe(403);
    expect((await raw(s.url, "GET", "/dashboard", nav)).status).toBe(200);
  });

  it("the pages the sidecar serves cannot be framed, and run only their own scripts", async () => {
    for (const path of ["/dashboard", "/dashboard/app.js", "/api/stats", "/dashboard/nothing"]) {
      const r = await raw(s.url, "GET", path, { authorization: `Bearer ${KEY}` });
      expect(r.head, path).toMatch(/^x-frame-options: DENY$/im);
      expect(r.head, path).toMatch(/^content-security-policy: default-src 'self';.*frame-ancestors 'none'/im);
    }
  });

  it("with a key, none of the client's credentials go on: not the key in any form, not its cookies", async () => {
    upstream.seen.length = 0;
    const headers = { "api-key": KEY, "x-api-key": KEY, cookie: "session=abc" };
    expect((await raw(s.url, "POST", "/v1/chat/completions", headers, chat)).status).toBe(200);
    const sent = upstream.seen[0]?.headers ?? {};
    expect(sent.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(sent["api-key"]).toBeUndefined();
    expect(sent["x-api-key"]).toBeUndefined();
    expect(sent.cookie).toBeUndefined();
  });
});

describe("users no longer locked out", () => {
  it("an Azure-style client's api-key header is a key", async () => {
    expect((await raw(s.url, "POST", "/v1/chat/completions", { "api-key": KEY }, chat)).status).toBe(200);
    expect((await raw(s.url, "POST", "/v1/chat/completions", { "api-key": "wrong-key-1" }, chat)).status).toBe(401);
  });

  it("Host: localhost. (the name fully qualified) is loopback", async () => {
    const { port } = new URL(s.url);
    const r = await new Promise<number>((resolve, reject) => {
      const socket = connect(Number(port), "127.0.0.1", () =>
        socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost.:${port}\r\nConnection: close\r\n\r\n`),
      );
      let out = "";
      socket.on("data", (b) => {
        out += b;
      });
      socket.on("end", () => resolve(Number(out.split(" ")[1])));
      socket.on("error", reject);
    });
    expect(r).toBe(200);
  });

  it("a key set with spaces around it is the key without them", async () => {
    const t = await startTestSidecar(upstream.url, ["--api-key", `  ${KEY} `]);
    try {
      expect((await raw(t.url, "POST", "/v1/chat/completions", { "x-api-key": KEY }, chat)).status).toBe(200);
      expect(t.banner).toMatch(
        /note: --api-key on the command line can be read by any user of this machine \(ps\); use --api-key-file/,
      );
    } finally {
      await t.close();
    }
  });

  it("env and statusline find a key in a config file named by LLAMA_SIDECAR_CONFIG, as the sidecar does", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sidecar-key-config-"));
    writeFileSync(join(dir, "sidecar.key"), `${KEY}\n`);
    const { port } = new URL(s.url);
    writeFileSync(join(dir, "sidecar.yaml"), `apiKeyFile: sidecar.key\nport: ${port}\n`);
    const cli = (args: string[], stdin = "") =>
      new Promise<string>((resolve) => {
        const child = execFile(
          process.execPath,
          ["--import", import.meta.resolve("tsx"), new URL("../../src/cli.ts", import.meta.url).pathname, ...args],
          {
            env: { PATH: process.env.PATH, HOME: dir, LLAMA_SIDECAR_CONFIG: join(dir, "sidecar.yaml") },
            cwd: tmpdir(),
          },
          (_err, stdout) => resolve(stdout),
        );
        child.stdin?.end(stdin);
      });
    expect(await cli(["env", "openai"])).toContain(`OPENAI_API_KEY='${KEY}'`);
    // The status line gives the sidecar 150 ms, which a busy machine may miss: asked again until it answers.
    const lines: string[] = [];
    await until(
      "the status line's numbers",
      async () => {
        lines.push(await cli(["statusline"], '{"session_id":"none-such"}'));
        return / · /.test(lines.at(-1) ?? "");
      },
      60_000,
    );
    expect(lines.filter((l) => l.includes("HTTP 401"))).toEqual([]);
  });
});
