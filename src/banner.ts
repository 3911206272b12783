// The startup banner: where to point clients, where the numbers are, and how llama-server is doing.
import { claudeSetup } from "./clients/claude-env.js";
import type { Config } from "./config/load.js";
import type { UpstreamStatus } from "./upstream/monitor.js";
import { VERSION } from "./version.js";

function describe(status: UpstreamStatus): string {
  const loaded = status.props?.modelState;
  if (status.state === "online" && loaded !== undefined && loaded !== "loaded") {
    const slots = status.props?.totalSlots;
    const ctx = status.props?.nCtx;
    const settings = [slots && `${slots} slot(s)`, ctx && `n_ctx ${ctx}`].filter(Boolean).join(", ");
    return `${loaded === "failed" ? "not loaded (its last load failed)" : `${loaded}`}; loads on its first request${settings ? ` (${settings})` : ""}`;
  }
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

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/** A key given as a flag shows in `ps` to every user of this machine. */
function commandLineKeyNote(config: Config): string[] {
  if (config.keysOnCommandLine.length === 0) return [];
  const flags = config.keysOnCommandLine.join(" and ");
  return [
    "",
    `note: ${flags} on the command line can be read by any user of this machine (ps); use ${config.keysOnCommandLine.map((f) => `${f}-file`).join(" or ")} or the LLAMA_SIDECAR_* variable instead`,
  ];
}

/** Listening beyond this machine with no key: anyone who reaches the port can use the model and read the stats. */
function exposureWarning(config: Config): string[] {
  if (LOOPBACK.test(config.host) || config.apiKey !== undefined) return [];
  return [
    "",
    `WARNING: listening on ${config.host} without --api-key: anyone who can reach this port can use the model`,
    "         and read /api/stats. Set --api-key (or LLAMA_SIDECAR_API_KEY), or listen on 127.0.0.1.",
  ];
}

/** What the banner says of the data dir: only a problem is news. */
export interface StoreNote {
  writable: boolean;
  error: string | null;
}

/** The variables `llama-sidecar claude` would set, for a user who runs claude by hand; a key is never printed. */
function claudeByHand(config: Config, listenUrl: string, status: UpstreamStatus): string {
  const p = status.props;
  const setup = {
    version: VERSION,
    upstream: { state: status.state, model: p?.model, nCtx: p?.nCtx, slots: p?.totalSlots },
    keyRequired: config.apiKey !== undefined,
  };
  const key = config.apiKey === undefined ? undefined : "<your --api-key>";
  // Claude Code's telemetry (for session reports) is the launcher's extra: the line by hand keeps to what it needs.
  const { env, telemetry } = claudeSetup(setup, listenUrl, key, {});
  return Object.entries(env)
    .filter(([name]) => !telemetry.includes(name))
    .map(([k, v]) => `${k}=${/^[\w.:/-]+$/.test(v) ? v : `'${v}'`}`)
    .join(" ");
}

/** An upstream as the banner shows it. */
export interface BannerUpstream {
  name: string;
  /** The router model it is, on a llama-server in router mode. */
  model?: string;
  url: string;
  status: UpstreamStatus;
}

/** One upstream on its own row; several on a row each, under the first, by name. */
function upstreamRows(upstreams: readonly [BannerUpstream, ...BannerUpstream[]]): [string, string][] {
  const only = upstreams[0];
  if (upstreams.length === 1 && !only.model) return [["Upstream", `${only.url}  ${describe(only.status)}`]];
  const name = (u: BannerUpstream) => (u.model ? `${u.name} ${u.model}` : u.name);
  const width = Math.max(...upstreams.map((u) => name(u).length));
  return upstreams.map((u, i) => [
    i === 0 ? "Upstreams" : "",
    `${name(u).padEnd(width)}  ${u.url}  ${describe(u.status)}`,
  ]);
}

/** The banner; `upstreams[0]` is the primary upstream, whose model `llama-sidecar claude` sets up. */
export function banner(
  config: Config,
  listenUrl: string,
  upstreams: readonly [BannerUpstream, ...BannerUpstream[]],
  lifetime: string,
  store: StoreNote = { writable: true, error: null },
): string {
  const status = upstreams[0].status;
  const dataDir = store.writable
    ? config.dataDir
    : `${config.dataDir}  NOT WRITABLE (${store.error ?? "refused"}): totals are not being saved; retrying`;
  const rows: [string, string][] = [
    ["Proxy URL", listenUrl],
    ...upstreamRows(upstreams),
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
    ...exposureWarning(config),
    ...commandLineKeyNote(config),
    "",
    "Claude Code : llama-sidecar claude   (fits it to this server: context, model, status line)",
    `  by hand   : ${claudeByHand(config, listenUrl, status)} claude`,
    `OpenAI SDK  : base URL ${listenUrl}/v1`,
    line,
  ].join("\n");
}
