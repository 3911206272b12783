// A fake of llama-swap (github.com/mostlygeek/llama-swap, v250), built from its source for tests: it starts real
// llama-servers on demand and swaps between them, one model at a time (its default group: swap and exclusive).
// What it copies, with the Go source it follows:
// - the model is the JSON body's `model`, an alias mapped to its model (internal/server/server.go, swaputil/http.go);
//   no model: 404 "no model id could be identified"; an unknown one: 404 "no router for requested model";
// - errors as `{"src":"llama-swap","error":"<msg>"}` (swaputil.SendResponse, v250);
// - a request for a model that is not ready stops the running one, starts its process, polls its /health until 200,
//   then forwards; requests meanwhile join that swap; a swap waits for the running model's requests to finish
//   (router/scheduler/fifo.go); states stopped, starting, ready, stopping (process/process.go);
// - GET /v1/models `{"object":"list","data":[{id,object:"model",created,owned_by:"llama-swap",meta:{llamaswap:{type,
//   aliases}},status:{value:"loaded"|"unloaded"}}]}` sorted by id (api.go); GET /running `{"running":[{model,state,
//   cmd,proxy,ttl,name,description}]}` of processes not stopped; GET /health "OK";
// - ANY /upstream/<model>/<path>: that model's server, prefix stripped, loading it first like a request does
//   (api.go), unless the path matches ignorePaths (then 409 when it is not ready).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ensureTinyModel } from "../../scripts/make-tiny-model.js";
import { freePort, llamaServerBinary } from "./llama-server.js";

export interface SwapModel {
  /** llama-server arguments besides the model, host and port. */
  args: string[];
  aliases?: string[];
}

type State = "stopped" | "starting" | "ready" | "stopping";

interface Process {
  state: State;
  port?: number;
  child?: ChildProcess;
  inFlight: number;
  starting?: Promise<void>;
}

export interface LlamaSwap {
  url: string;
  /** How many swaps it made (a model started), by model. */
  starts: Record<string, number>;
  /** The port of a model's server while it runs, for reading its own counters. */
  portOf(model: string): number | undefined;
  close(): Promise<void>;
}

const MODEL_ROUTES = new Set([
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/messages",
  "/v1/messages/count_tokens",
  "/completion",
  "/infill",
  "/v1/embeddings",
]);

function send(res: ServerResponse, status: number, msg: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ src: "llama-swap", error: msg }));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startLlamaSwap(
  models: Record<string, SwapModel>,
  ignorePaths: RegExp[] = [],
): Promise<LlamaSwap> {
  const procs = new Map<string, Process>(Object.keys(models).map((id) => [id, { state: "stopped", inFlight: 0 }]));
  const starts: Record<string, number> = {};
  const real = (name: string) =>
    procs.has(name) ? name : Object.entries(models).find(([, m]) => m.aliases?.includes(name))?.[0];
  let swapping: Promise<void> = Promise.resolve();

  async function stopProcess(p: Process): Promise<void> {
    while (p.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    p.state = "stopping";
    if (p.child && p.child.exitCode === null) {
      p.child.kill("SIGTERM");
      await once(p.child, "exit");
    }
    p.state = "stopped";
    p.port = undefined;
    p.child = undefined;
  }

  async function startProcess(id: string, p: Process): Promise<void> {
    p.state = "starting";
    p.port = await freePort();
    const args = [
      "-m",
      ensureTinyModel(),
      "--host",
      "127.0.0.1",
      "--port",
      String(p.port),
      ...(models[id]?.args ?? []),
    ];
    p.child = spawn(llamaServerBinary(), args, { stdio: "ignore" });
    starts[id] = (starts[id] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, 250));
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${p.port}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    p.state = "ready";
  }

  /** The one-at-a-time swap: requests for the model being started join its start. */
  function ensureReady(id: string): Promise<void> {
    const p = procs.get(id) as Process;
    if (p.state === "ready") return Promise.resolve();
    if (p.starting) return p.starting;
    const start = swapping.then(async () => {
      await Promise.all(
        [...procs].filter(([other, q]) => other !== id && q.state !== "stopped").map(([, q]) => stopProcess(q)),
      );
      await startProcess(id, p);
    });
    p.starting = start.finally(() => {
      p.starting = undefined;
    });
    swapping = p.starting.catch(() => {});
    return p.starting;
  }

  async function forward(id: string, req: IncomingMessage, res: ServerResponse, path: string, body: Buffer) {
    const p = procs.get(id) as Process;
    await ensureReady(id);
    // A request counts as in flight once it is served, not while it waits for its model (fifo.go): a swap that
    // stops a model waits for its requests in flight, never for one that waits on that swap.
    if (res.destroyed) return;
    p.inFlight++;
    try {
      const up = await fetch(`http://127.0.0.1:${p.port}${path}`, {
        method: req.method,
        headers: { "content-type": req.headers["content-type"] ?? "application/json" },
        body: req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(body),
      });
      const headers: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (!["content-length", "transfer-encoding", "connection", "keep-alive"].includes(k)) headers[k] = v;
      });
      res.writeHead(up.status, headers);
      const reader = up.body?.getReader();
      for (let r = await reader?.read(); r && !r.done; r = await reader?.read()) res.write(r.value);
      res.end();
    } finally {
      p.inFlight--;
    }
  }

  function modelList() {
    const data = Object.keys(models)
      .sort()
      .map((id) => ({
        id,
        object: "model",
        created: Math.floor(Date.now() / 1000),
        owned_by: "llama-swap",
        meta: { llamaswap: { type: "model", ...(models[id]?.aliases ? { aliases: models[id]?.aliases } : {}) } },
        status: { value: procs.get(id)?.state === "stopped" ? "unloaded" : "loaded" },
      }));
    return { object: "list", data };
  }

  function running() {
    const list = [...procs]
      .filter(([, p]) => p.state !== "stopped")
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([model, p]) => ({
        model,
        state: p.state,
        cmd: "llama-server",
        proxy: `http://127.0.0.1:${p.port}`,
        ttl: 0,
        name: "",
        description: "",
      }));
    return { running: list };
  }

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    try {
      if (req.method === "GET" && url.pathname === "/health") return void res.end("OK");
      if (req.method === "GET" && (url.pathname === "/v1/models" || url.pathname === "/models")) {
        res.setHeader("content-type", "application/json");
        return void res.end(JSON.stringify(modelList()));
      }
      if (req.method === "GET" && url.pathname === "/running") {
        res.setHeader("content-type", "application/json");
        return void res.end(JSON.stringify(running()));
      }
      const upstream = /^\/upstream\/([^/]+)(\/.*)$/.exec(url.pathname);
      if (upstream) {
        const id = real(decodeURIComponent(upstream[1] ?? ""));
        if (!id) return send(res, 404, "model not found");
        const rest = upstream[2] ?? "/";
        if (ignorePaths.some((p) => p.test(rest)) && procs.get(id)?.state !== "ready")
          return send(res, 409, `model ${id} is not loaded; path matches upstream.ignorePaths`);
        return await forward(id, req, res, `${rest}${url.search}`, await readBody(req));
      }
      if (req.method === "POST" && MODEL_ROUTES.has(url.pathname)) {
        const body = await readBody(req);
        let name: unknown;
        try {
          name = JSON.parse(body.toString()).model;
        } catch {
          name = undefined;
        }
        if (typeof name !== "string" || !name) return send(res, 404, "no model id could be identified");
        const id = real(name);
        if (!id) return send(res, 404, "no router for requested model");
        return await forward(id, req, res, `${url.pathname}${url.search}`, body);
      }
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("404 page not found\n");
    } catch (err) {
      if (!res.headersSent) send(res, 500, `unspecific error: ${(err as Error).message}`);
      else res.destroy();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    starts,
    portOf: (model) => procs.get(model)?.port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await Promise.all([...procs.values()].map((p) => stopProcess({ ...p, inFlight: 0 })));
    },
  };
}
