// How the client commands (claude, env, statusline) reach a running sidecar: its address from the same settings
// the sidecar reads, and small JSON reads with a deadline, so a sidecar that is down is an answer, not a hang.
import { request } from "node:http";
import type { Config } from "../config/load.js";

export interface SidecarAddress {
  /** http://host:port, where a client on this machine reaches it. */
  base: string;
  /** The sidecar's API key, when it has one. */
  key?: string;
}

/** A wildcard listen address is reached on loopback; IPv6 addresses go in brackets. */
export function sidecarAddress(config: Pick<Config, "host" | "port" | "apiKey">): SidecarAddress {
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host === "::" ? "::1" : config.host;
  const shown = host.includes(":") ? `[${host}]` : host;
  return { base: `http://${shown}:${config.port}`, key: config.apiKey };
}

export type Reply<T> = { ok: true; status: number; body: T } | { ok: false; reason: string };

/**
 * GET a JSON document from the sidecar within `timeoutMs`; what went wrong, in a few words, otherwise. Plain
 * node:http on a connection of its own: fetch would load undici (about 45 ms of a status line's start) and keep the
 * connection, and with it the process, alive after the answer.
 */
export function getJson<T>(addr: SidecarAddress, path: string, timeoutMs: number): Promise<Reply<T>> {
  return new Promise((resolve) => {
    const req = request(`${addr.base}${path}`, { agent: false, headers: addr.key ? { "x-api-key": addr.key } : {} });
    const timer = setTimeout(() => {
      resolve({ ok: false, reason: "no answer in time" });
      req.destroy();
    }, timeoutMs);
    const fail = (reason: string) => {
      clearTimeout(timer);
      resolve({ ok: false, reason });
    };
    req.on("error", (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("error", (err) => fail(err.message));
      res.on("end", () => {
        clearTimeout(timer);
        try {
          resolve({ ok: true, status: res.statusCode ?? 0, body: JSON.parse(text) as T });
        } catch {
          resolve({ ok: false, reason: `HTTP ${res.statusCode}, not JSON` });
        }
      });
    });
    req.end();
  });
}
