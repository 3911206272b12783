// Watches llama-server's /health (and /props once online) so the sidecar knows if it is online, loading or down.
import { EventEmitter } from "node:events";
import { objectOrEmpty, parseObject } from "../wire/json.js";
import type { UpstreamState } from "../wire/upstream-state.js";
import type { Upstream } from "./client.js";
import { callUpstream } from "./client.js";
import { type Poller, pollEvery } from "./poll.js";
import { type ModelState, type RouterModel, readRouterModels } from "./router-models.js";
import { isLlamaSwapList, readSwapModels } from "./swap-models.js";

export interface UpstreamProps {
  model?: string;
  totalSlots?: number;
  nCtx?: number;
  buildInfo?: string;
  /** The models its /v1/models lists: ids and aliases (modelNames gives the names each answers to). */
  models?: string[];
  /** A llama-server in router mode (/props role "router"): its models, re-read at every health check. */
  router?: RouterModel[];
  /** For one model of a router: whether it is loaded. */
  modelState?: ModelState;
  /** It is llama-swap: its models (in `router`) run one or a group at a time, swapped in on demand. */
  swap?: boolean;
}

export interface UpstreamStatus {
  state: UpstreamState;
  since: number;
  detail?: string;
  props?: UpstreamProps;
}

export interface MonitorEvents {
  change: [status: UpstreamStatus, previous: UpstreamStatus | undefined];
  /** A router's model list was read again (its states may have changed). */
  models: [models: RouterModel[]];
}

function readProps(text: string): UpstreamProps & { isRouter: boolean } {
  const b = parseObject(text) ?? {};
  const settings = objectOrEmpty(b.default_generation_settings);
  const model =
    typeof b.model_alias === "string" ? b.model_alias : typeof b.model_path === "string" ? b.model_path : undefined;
  return {
    model,
    totalSlots: typeof b.total_slots === "number" ? b.total_slots : undefined,
    nCtx: typeof settings.n_ctx === "number" ? settings.n_ctx : undefined,
    buildInfo: typeof b.build_info === "string" ? b.build_info : undefined,
    isRouter: b.role === "router",
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

/** A router's (or llama-swap's) props with its models: their states, and every name they answer to. */
function withModels(props: UpstreamProps, router: RouterModel[]): UpstreamProps {
  return { ...props, router, models: router.flatMap((m) => [m.id, ...m.aliases]) };
}

export class UpstreamMonitor extends EventEmitter<MonitorEvents> {
  protected current: UpstreamStatus | undefined;
  private poller: Poller | undefined;

  constructor(
    protected readonly upstream: Upstream,
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
        const known = this.current?.state === "online" ? this.current.props : undefined;
        // A router's /health says nothing of its models: their states are read at every check.
        const props = known?.router
          ? await this.withRouterModels(known, timeout)
          : (known ?? (await this.fetchProps(timeout)));
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
    // Told once the list is the status's: what hears it reads the states of now.
    if (next.props?.router) this.emit("models", next.props.router);
    return this.status;
  }

  private async fetchProps(timeout: number): Promise<UpstreamProps | undefined> {
    const get = (path: string) =>
      callUpstream(this.upstream, path, { timeoutMs: timeout }).then(
        (r) => (r.status === 200 ? r.text : undefined),
        () => undefined,
      );
    const [props, models] = await Promise.all([get("/props"), get("/v1/models")]);
    if (models !== undefined && isLlamaSwapList(models)) {
      return withModels({ swap: true }, readSwapModels(models, await get("/running")));
    }
    if (props === undefined) return undefined;
    const { isRouter, ...read } = readProps(props);
    const listed = models === undefined ? undefined : readModelList(models);
    if (!isRouter) return { ...read, models: listed };
    return this.routerProps({ ...read, model: undefined, nCtx: undefined }, models);
  }

  /** The router's (or llama-swap's) models read again: the same props with the states of now. */
  private async withRouterModels(props: UpstreamProps, timeout: number): Promise<UpstreamProps> {
    const get = (path: string) =>
      callUpstream(this.upstream, path, { timeoutMs: timeout }).then(
        (r) => (r.status === 200 ? r.text : undefined),
        () => undefined,
      );
    const text = await get("/v1/models");
    if (text === undefined) return props;
    if (!props.swap) return this.routerProps(props, text);
    return withModels(props, readSwapModels(text, await get("/running")));
  }

  private routerProps(props: UpstreamProps, modelsText: string | undefined): UpstreamProps {
    // An unanswered list keeps the models known: a model is not gone because one call failed.
    if (modelsText === undefined && props.router) return props;
    return withModels(props, modelsText === undefined ? [] : readRouterModels(modelsText));
  }

  /** A router's model states now, read at once (while a model loads, say). */
  async refreshModels(): Promise<RouterModel[] | undefined> {
    const props = this.current?.props;
    if (this.current?.state !== "online" || !props?.router) return undefined;
    const fresh = await this.withRouterModels(props, 5000);
    if (this.current) this.current.props = fresh;
    if (fresh.router) this.emit("models", fresh.router);
    return fresh.router;
  }

  protected update(next: Omit<UpstreamStatus, "since">): void {
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
