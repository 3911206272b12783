// The states llama-server can be in, as the sidecar sees it: followed by the monitor, exported as a gauge.

export type UpstreamState = "online" | "loading" | "unreachable";
export const UPSTREAM_STATES: UpstreamState[] = ["online", "loading", "unreachable"];
