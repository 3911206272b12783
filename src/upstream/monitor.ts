// Watches llama-server's /health (and /props once online) so the sidecar knows if it is online, loading or down.
import { EventEmitter } from "node:events";
import { objectOrEmpty, parseObject } from "../wire/json.js";
import type { UpstreamState } from "../wire/upstream-state.js";
import type { Upstream } from "./client.js";
import { callUpstream } from "./client.js";
import { type Poller, pollEvery } from "./poll.js";

export interface UpstreamProps {
  model?: string;
  totalSlots?: number;
  nCtx?: number;
  buildInfo?: string;
  /** The models its /v1/models lists: ids and aliases (modelNames gives the names each answers to). */
  models?: string[];
}

export interface UpstreamStatus {
  state: UpstreamState;
  since: number;
  detail?: string;
  props?: UpstreamProps;
}

export interface MonitorEvents {
  change: [status: UpstreamStatus, previous: UpstreamStatus | undefined];
}

function readProps(text: string): UpstreamProps {
  const b = parseObject(text) ?? {};
  const settings = objectOrEmpty(b.default_generation_settings);
  const model =
    typeof b.model_alias === "string" ? b.model_alias : typeof b.model_path === "string" ? b.model_path : undefined;
  return {
    model,
    totalSlots: typeof b.total_slots === "number" ? b.total_slots : undefined,
    nCtx: typeof settings.n_ctx === "number" ? settings.n_ctx : undefined,
    buildInfo: typeof b.build_info === "string" ? b.build_info : undefined,
  };
}

/**
 * The names a listed model answers to: its id, and for a model llama-server names by its path, the file's name with
 * and without ".gguf" (what people call it, and what `llama-sidecar claude` sends).
 */
export function modelNames(id: string): string[] {
  const file = id.split(/[\\/]/).at(-1) ?? id;
  return [...new Set([id, file, file.replace(/\.gguf$/i, "")])];
}

/** The model names of an OpenAI-style /v1/models answer (llama-server's, llama-swap's). */
export function readModelList(text: string): string[] {
  const data = parseObject(text)?.data;
  if (!Array.isArray(data)) return [];
  const names = data.flatMap((m) => {
    const entry = objectOrEmpty(m);
    const aliases = Array.isArray(entry.aliases) ? entry.aliases.filter((a) => typeof a === "string") : [];
    return [typeof entry.id === "string" ? entry.id : undefined, ...aliases].filter((n) => n !== undefined);
  });
  return [...new Set(names)];
}

export class UpstreamMonitor extends EventEmitter<MonitorEvents> {
  private current: UpstreamStatus | undefined;
  private poller: Poller | undefined;

  constructor(
    private readonly upstream: Upstream,
    private readonly intervalMs: number,
  ) {
    super();
  }

  get status(): UpstreamStatus {
    return this.current ?? { state: "unreachable", since: Date.now(), detail: "not checked yet" };
  }

  /** One health check; resolves with the state it found. */
  async check(): Promise<UpstreamStatus> {
    const timeout = Math.max(1000, Math.min(this.intervalMs, 5000));
    let next: Omit<UpstreamStatus, "since">;
    try {
      const { status, text } = await callUpstream(this.upstream, "/health", { timeoutMs: timeout });
      if (status === 200) {
        const props = this.current?.state === "online" ? this.current.props : await this.fetchProps(timeout);
        next = { state: "online", props };
      } else if (status === 503) {
        next = { state: "loading", detail: "loading model" };
      } else {
        next = {
          state: "unreachable",
          detail: `health check answered HTTP ${status}: ${text.slice(0, 200)}`,
        };
      }
    } catch (err) {
      const code = (err as { code?: string }).code;
      next = { state: "unreachable", detail: code ?? (err as Error).message };
    }
    this.update(next);
    return this.status;
  }

  private async fetchProps(timeout: number): Promise<UpstreamProps | undefined> {
    const get = (path: string) =>
      callUpstream(this.upstream, path, { timeoutMs: timeout }).then(
        (r) => (r.status === 200 ? r.text : undefined),
        () => undefined,
      );
    const [props, models] = await Promise.all([get("/props"), get("/v1/models")]);
    if (props === undefined) return undefined;
    return { ...readProps(props), models: models === undefined ? undefined : readModelList(models) };
  }

  private update(next: Omit<UpstreamStatus, "since">): void {
    const prev = this.current;
    if (prev && prev.state === next.state) {
      if (next.props) prev.props = next.props;
      return;
    }
    this.current = { ...next, since: Date.now() };
    this.emit("change", this.current, prev);
  }

  start(): void {
    this.poller = pollEvery(this.intervalMs, () => this.check());
  }

  stop(): void {
    this.poller?.stop();
  }
}
