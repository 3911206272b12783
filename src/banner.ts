// The startup banner: where to point clients, where the numbers are, and how llama-server is doing.
import type { Config } from "./config/load.js";
import type { UpstreamStatus } from "./upstream/monitor.js";
import { VERSION } from "./version.js";

function describe(status: UpstreamStatus): string {
  switch (status.state) {
    case "online": {
      const p = status.props;
      const extra = [
        p?.model && `model ${p.model}`,
        p?.totalSlots && `${p.totalSlots} slot(s)`,
        p?.nCtx && `n_ctx ${p.nCtx}`,
      ]
        .filter(Boolean)
        .join(", ");
      return extra ? `online (${extra})` : "online";
    }
    case "loading":
      return "loading model (until it is ready, requests get llama-server's 503)";
    case "unreachable":
      return `unreachable (${status.detail ?? "no answer"}); rechecking in the background`;
  }
}

/** What the banner says of the data dir: only a problem is news. */
export interface StoreNote {
  writable: boolean;
  error: string | null;
}

export function banner(
  config: Config,
  listenUrl: string,
  status: UpstreamStatus,
  lifetime: string,
  store: StoreNote = { writable: true, error: null },
): string {
  const dataDir = store.writable
    ? config.dataDir
    : `${config.dataDir}  NOT WRITABLE (${store.error ?? "refused"}): totals are not being saved; retrying`;
  const rows: [string, string][] = [
    ["Proxy URL", listenUrl],
    ["Upstream", `${config.upstream}  ${describe(status)}`],
    ["Metrics", `${listenUrl}/metrics`],
    ["Dashboard", `${listenUrl}/dashboard`],
    ["Lifetime", lifetime],
    ["Data dir", dataDir],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const line = "=".repeat(60);
  return [
    line,
    `llama-sidecar ${VERSION}`,
    line,
    ...rows.map(([k, v]) => `${k.padEnd(width)} : ${v}`),
    "",
    `Claude Code : ANTHROPIC_BASE_URL=${listenUrl} ANTHROPIC_API_KEY=local claude`,
    `OpenAI SDK  : base URL ${listenUrl}/v1`,
    line,
  ].join("\n");
}
