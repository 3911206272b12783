// Where the sidecar listens, read for the status line without the full settings schema (which would cost a status
// line over 100 ms of its start): only --host, --port and the key, from flags or LLAMA_SIDECAR_* variables. Anything
// else, or a value that does not read cleanly, returns undefined and the full parser takes over, with its errors.
import { readFileSync } from "node:fs";
import { type SidecarAddress, sidecarAddress } from "./sidecar-api.js";

const FLAGS: Record<string, "host" | "port" | "apiKey" | "apiKeyFile"> = {
  "--host": "host",
  "--port": "port",
  "--api-key": "apiKey",
  "--api-key-file": "apiKeyFile",
};

function fromArgs(args: string[], into: Record<string, string | undefined>): boolean {
  for (let i = 0; i < args.length; i++) {
    const [flag = "", inline] = (args[i] as string).split(/=(.*)/s, 2);
    const key = FLAGS[flag];
    const value = inline ?? args[++i];
    if (!key || value === undefined) return false;
    into[key] = value;
  }
  return true;
}

export function quickAddress(args: string[], env: NodeJS.ProcessEnv): SidecarAddress | undefined {
  // A config file may hold the address or the key: the full parser reads it, as the sidecar does.
  if (env.LLAMA_SIDECAR_CONFIG) return undefined;
  const s: Record<string, string | undefined> = {
    host: env.LLAMA_SIDECAR_HOST,
    port: env.LLAMA_SIDECAR_PORT,
    apiKey: env.LLAMA_SIDECAR_API_KEY,
    apiKeyFile: env.LLAMA_SIDECAR_API_KEY_FILE,
  };
  if (!fromArgs(args, s)) return undefined;
  const port = s.port ?? "9090";
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535 || s.host === "") return undefined;
  // The full parser's rules: an empty value is unset, both a key and a key file is an error (its to report).
  const key = s.apiKey?.trim() || undefined;
  const keyFile = s.apiKeyFile || undefined;
  if (key !== undefined && keyFile !== undefined) return undefined;
  let apiKey = key;
  if (keyFile !== undefined) {
    try {
      apiKey = readFileSync(keyFile, "utf8").split(/\r?\n/)[0]?.trim();
    } catch {
      return undefined;
    }
  }
  return sidecarAddress({ host: s.host ?? "127.0.0.1", port: Number(port), apiKey });
}
