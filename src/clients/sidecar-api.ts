// How the client commands (claude, env, statusline) reach a running sidecar: its address from the same settings
// the sidecar reads, and small JSON reads with a deadline, so a sidecar that is down is an answer, not a hang.
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

/** GET a JSON document from the sidecar within `timeoutMs`; what went wrong, in a few words, otherwise. */
export async function getJson<T>(addr: SidecarAddress, path: string, timeoutMs: number): Promise<Reply<T>> {
  try {
    const res = await fetch(`${addr.base}${path}`, {
      headers: addr.key ? { "x-api-key": addr.key } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as T;
    return { ok: true, status: res.status, body };
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string } };
    return { ok: false, reason: e.name === "TimeoutError" ? "no answer in time" : (e.cause?.code ?? String(err)) };
  }
}
