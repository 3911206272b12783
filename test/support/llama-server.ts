// Starts a real llama-server (built from node-llama-cpp's bundled llama.cpp, cached outside the repo) on the tiny model.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureTinyModel } from "../../scripts/make-tiny-model.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

let binaryPath: string | undefined;

/** Builds (first time) or finds the cached llama-server binary. */
export function llamaServerBinary(): string {
  if (process.env.LLAMA_SERVER_BIN) return process.env.LLAMA_SERVER_BIN;
  binaryPath ??= execFileSync("bash", [`${ROOT}scripts/build-llama-server.sh`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return binaryPath;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface LlamaServerOptions {
  parallel?: number;
  ctx?: number;
  port?: number;
  extraArgs?: string[];
  /** The model's name (--alias); null serves it by its file's path, as llama-server does without --alias. */
  alias?: string | null;
}

export interface LlamaServer {
  url: string;
  port: number;
  process: ChildProcess;
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

async function waitHealthy(url: string, proc: ChildProcess, log: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`llama-server exited with ${proc.exitCode}:\n${log()}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`llama-server did not become healthy in ${timeoutMs} ms:\n${log()}`);
}

export async function startLlamaServer(opts: LlamaServerOptions = {}): Promise<LlamaServer> {
  const bin = llamaServerBinary();
  const model = ensureTinyModel();
  const port = opts.port ?? (await freePort());
  const args = [
    "-m",
    model,
    "--host",
    "127.0.0.1",
    "--port",
    String(port),
    "-c",
    String(opts.ctx ?? 8192),
    "--parallel",
    String(opts.parallel ?? 1),
    "--metrics",
    "--slots",
    "--jinja",
    "--threads",
    "2",
    ...(opts.alias === null ? [] : ["--alias", opts.alias ?? "tiny"]),
    ...(opts.extraArgs ?? []),
  ];
  return spawnServer(bin, args, port);
}

/** Starts a llama-server process and resolves once its /health answers 200, keeping the tail of its output. */
async function spawnServer(bin: string, args: string[], port: number, env?: NodeJS.ProcessEnv): Promise<LlamaServer> {
  const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env });
  let output = "";
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-20_000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, proc, () => output);
  return {
    url,
    port,
    process: proc,
    log: () => output,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await once(proc, "exit");
    },
  };
}

export interface RouterOptions {
  /** Model name -> its context size: each a link to the tiny model in a models dir, one preset section each. */
  models: Record<string, { ctx: number; alias?: string }>;
  /** --models-max: how many may be loaded at once (the router unloads the idle least recently used). */
  modelsMax?: number;
}

/**
 * A llama-server in router mode (--models-dir and --models-preset): no model loaded at first, each loaded on demand
 * as a child llama-server with its own context size and one slot. Settings that differ per model must stay off the
 * router's own command line, which overrides the preset's.
 */
export async function startRouterServer(opts: RouterOptions): Promise<LlamaServer> {
  const bin = llamaServerBinary();
  const model = ensureTinyModel();
  const dir = mkdtempSync(join(tmpdir(), "llama-router-"));
  mkdirSync(join(dir, "models"));
  mkdirSync(join(dir, "cache"));
  const preset = ["version = 1", "[*]", "threads = 1", "parallel = 1", "metrics = true", "slots = true", ""];
  for (const [name, m] of Object.entries(opts.models)) {
    symlinkSync(model, join(dir, "models", `${name}.gguf`));
    preset.push(`[${name}]`, `c = ${m.ctx}`, ...(m.alias ? [`alias = ${m.alias}`] : []), "");
  }
  writeFileSync(join(dir, "preset.ini"), preset.join("\n"));
  const port = await freePort();
  const args = ["--models-dir", join(dir, "models"), "--models-preset", join(dir, "preset.ini")];
  args.push("--models-max", String(opts.modelsMax ?? 2), "--host", "127.0.0.1", "--port", String(port));
  // An empty download cache: the router lists the models of the Hugging Face cache too.
  return spawnServer(bin, args, port, { ...process.env, LLAMA_CACHE: join(dir, "cache") });
}
