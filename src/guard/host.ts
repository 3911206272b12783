// DNS rebinding guard: a web page on evil.example whose name is re-pointed at 127.0.0.1 reaches the sidecar with
// "Host: evil.example"; only names the sidecar knows as its own pass.
import { isIP } from "node:net";
import { hostname } from "node:os";

/** The host part of a Host header: "[::1]:9090" -> "::1", "localhost.:9090" -> "localhost". */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]") > 0 ? h.indexOf("]") : undefined);
  const colon = h.lastIndexOf(":");
  const name = colon > 0 && h.indexOf(":") === colon ? h.slice(0, colon) : h;
  // "localhost." is the same name written fully qualified (a final dot), as browsers and curl allow.
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** The names this sidecar answers to besides loopback names and address literals. */
export function ownHostNames(configured: readonly string[], listenHost: string): Set<string> {
  const names = new Set(configured.map((n) => n.toLowerCase()));
  const machine = hostname().toLowerCase();
  names.add(machine);
  names.add(machine.split(".")[0] ?? machine);
  if (!isIP(listenHost)) names.add(listenHost.toLowerCase());
  return names;
}

/**
 * Loopback names, any address literal (an address cannot be rebound: rebinding needs a name the attacker
 * controls), this machine's name, the listen address and the configured names pass. A request without a Host
 * header (HTTP/1.0, never a browser) passes too.
 */
export function hostAllowed(header: string | undefined, own: ReadonlySet<string>): boolean {
  if (header === undefined || header === "") return true;
  const name = hostName(header);
  if (isIP(name)) return true;
  return name === "localhost" || name.endsWith(".localhost") || own.has(name);
}
