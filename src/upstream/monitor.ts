// Watches llama-server's /health (and /props once online) so the sidecar knows if it is online, loading or down.
import { EventEmitter } from "node:events";
import { objectOrEmpty, parseObject } from "../wire/json.js";
import type { UpstreamState } from "../wire/upstream-state.js";
import type { Upstream } from "./client.js";
import { callUpstream } from "./client.js";
import { type Poller, pollEvery } from "./poll.js";
import type { ModelState, RouterModel } from "./router-models.js";
import {
  kindRules,
  type ReadText,
  recognizeKind,
  type ServerFacts,
  type UpstreamKind,
  type UpstreamKindRules,
} from "./upstream-kind.js";

export interface UpstreamProps extends ServerFacts {
  /** What the server is, found once each time it comes online; none on one model of a router (ModelMonitor). */
  kind?: UpstreamKind;
  /** The models its /v1/models lists: ids and aliases (modelNames gives the names each answers to). */
  models?: string[];
  /** The models it serves by name, with their states (a router's or llama-swap's), re-read at every health check. */
  routerModels?: RouterModel[];
  /** For one model of a router: whether it is loaded. */
  modelState?: ModelState;
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

function readServerFacts(text: string): ServerFacts {
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

/** The rules of the kind a status's server is (a plain one until its props are read). */
export function kindOf(status: UpstreamStatus): UpstreamKindRules {
  return kindRules(status.props?.kind);
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
function withModels(props: UpstreamProps, routerModels: RouterModel[]): UpstreamProps {
  return { ...props, routerModels, models: routerModels.flatMap((m) => [m.id, ...m.aliases]) };
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
        const props =
          known && kindRules(known.kind).servesByName
            ? await this.withModelStates(known, timeout)
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
    if (next.props?.routerModels) this.emit("models", next.props.routerModels);
    return this.status;
  }

  /** One of the server's answers, where it answered 200. */
  private reader(timeout: number): ReadText {
    return (path) =>
      callUpstream(this.upstream, path, { timeoutMs: timeout }).then(
        (r) => (r.status === 200 ? r.text : undefined),
        () => undefined,
      );
  }

  /** The server first seen online: what kind it is, and what it says of itself and its models. */
  private async fetchProps(timeout: number): Promise<UpstreamProps | undefined> {
    const read = this.reader(timeout);
    const [propsText, modelsText] = await Promise.all([read("/props"), read("/v1/models")]);
    const kind = recognizeKind(propsText, modelsText);
    if (kind === undefined) return undefined;
    const rules = kindRules(kind);
    const props: UpstreamProps = { kind, ...rules.ownFacts(readServerFacts(propsText ?? "")) };
    if (!rules.servesByName)
      return { ...props, models: modelsText === undefined ? undefined : readModelList(modelsText) };
    return withModels(props, modelsText === undefined ? [] : await rules.readModels(modelsText, read));
  }

  /** The models of a server that serves them by name, read again: the same props with the states of now. */
  private async withModelStates(props: UpstreamProps, timeout: number): Promise<UpstreamProps> {
    const read = this.reader(timeout);
    // An unanswered list keeps the models known: a model is not gone because one call failed.
    const text = await read("/v1/models");
    if (text === undefined) return props;
    return withModels(props, await kindRules(props.kind).readModels(text, read));
  }

  /** A router's model states now, read at once (while a model loads, say). */
  async refreshModels(): Promise<RouterModel[] | undefined> {
    const props = this.current?.props;
    if (this.current?.state !== "online" || !props || !kindRules(props.kind).servesByName) return undefined;
    const fresh = await this.withModelStates(props, 5000);
    if (this.current) this.current.props = fresh;
    if (fresh.routerModels) this.emit("models", fresh.routerModels);
    return fresh.routerModels;
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
