// The upstreams as one: which serve a model (after aliases), in the order to try them (healthy, the one holding the
// conversation's prefix, the least loaded), and the union of their models.
import type { Alias, Fleet as FleetSettings } from "../config/upstreams.js";
import { matchesModel } from "../config/upstreams.js";
import { SidecarError } from "../errors.js";
import type { Upstream } from "../upstream/client.js";
import { kindOf, type UpstreamMonitor } from "../upstream/monitor.js";
import type { UpstreamUnit } from "./upstream-unit.js";

/** A configured upstream, as the fleet uses it (upstream-host.ts). */
export interface FleetHost {
  name: string;
  /** The server itself: its pool and health (a router's, for its models). */
  upstream: Upstream;
  monitor: UpstreamMonitor;
  /** The units requests may go to now: the server's own, or a router's models. */
  units(): readonly UpstreamUnit[];
  /** The server's own unit, for what names no model. */
  serverUnit: UpstreamUnit;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A host's first unit; a router with no model listed yet still has its own unit, for what names no model. */
const firstUnit = (host: FleetHost): UpstreamUnit => host.units()[0] ?? host.serverUnit;

/** Conversations whose upstream is remembered; the least recently used is forgotten first. */
const AFFINITY_LIMIT = 4096;

/** A request's way to its upstreams: the model it asks for after aliases, and the upstreams to try, best first. */
export interface Choice {
  /** The local model name an alias mapped the client's name to; undefined when no alias applied. */
  aliasedTo?: string;
  units: UpstreamUnit[];
}

export class UpstreamFleet {
  readonly hosts: readonly [FleetHost, ...FleetHost[]];
  private readonly primaryHost: FleetHost;
  private readonly fallbackHost?: FleetHost;
  private readonly backgroundHost?: FleetHost;
  private readonly aliases: readonly Alias[];
  private readonly lastServed = new Map<string, UpstreamUnit>();
  /** How many remembered conversations each upstream holds: new ones go where fewer are, to keep caches apart. */
  private readonly held = new Map<UpstreamUnit, number>();

  constructor(hosts: readonly [FleetHost, ...FleetHost[]], settings: FleetSettings) {
    this.hosts = hosts;
    const named = (name: string | undefined) => (name === undefined ? undefined : hosts.find((h) => h.name === name));
    this.fallbackHost = named(settings.defaultUpstream);
    this.backgroundHost = named(settings.backgroundUpstream);
    this.primaryHost = this.fallbackHost ?? hosts[0];
    this.aliases = settings.aliases;
  }

  /** Every unit requests may go to now (a router's models each one), the primary upstream's first. */
  get units(): readonly UpstreamUnit[] {
    // One upstream (most setups): its own list as it is, asked for by every request, not a copy each time.
    if (this.hosts.length === 1) return this.primaryHost.units();
    return [this.primaryHost, ...this.hosts.filter((h) => h !== this.primaryHost)].flatMap((h) => h.units());
  }

  /**
   * Requests that name no model (llama-server's own /completion, /props, /tokenize) go here: the primary
   * upstream's unit (a router's first model, whose server answers them for the router).
   */
  get primary(): UpstreamUnit {
    return firstUnit(this.primaryHost);
  }

  /** Where background calls with policy "route" go. */
  get background(): UpstreamUnit | undefined {
    return this.backgroundHost && firstUnit(this.backgroundHost);
  }

  /** A plain llama-server answers whatever model it is asked; a router picks by name, so none is sent there blind. */
  private get fallback(): UpstreamUnit | undefined {
    if (!this.fallbackHost || kindOf(this.fallbackHost.monitor.status).servesByName) return undefined;
    return firstUnit(this.fallbackHost);
  }

  /** The local model an alias maps a client's model name to, if one does. */
  alias(model: string): string | undefined {
    return this.aliases.find((a) => matchesModel(a.pattern, model))?.model;
  }

  /**
   * The upstreams to try for a model, best first; throws model_not_found (listing the models there are) when none
   * serves it and no default upstream is set. `conversation` names the conversation, for its upstream's cache.
   */
  choose(model: string | undefined, conversation?: string): Choice {
    if (model === undefined) return { units: [this.primary] };
    const aliasedTo = this.alias(model);
    const wanted = aliasedTo ?? model;
    const units = this.units;
    let serving = units.filter((u) => u.serves(wanted));
    // An upstream that has not listed its models yet (never online) may serve it: trying it tells the truth.
    if (serving.length === 0) serving = units.filter((u) => u.models().length === 0 && !u.monitor.status.props);
    if (serving.length === 0 && this.fallback) serving = [this.fallback];
    if (serving.length === 0) throw this.notFound(model);
    return { aliasedTo, units: this.order(serving, conversation) };
  }

  /**
   * Healthy ones first: the one that last served the conversation, then the least loaded, then the one holding the
   * fewest conversations (two new conversations on two idle servers go one to each), then config order.
   */
  private order(units: UpstreamUnit[], conversation: string | undefined): UpstreamUnit[] {
    if (units.length === 1) return units;
    const home = conversation === undefined ? undefined : this.lastServed.get(conversation);
    const rank = (u: UpstreamUnit) => (u.monitor.status.state === "online" ? 0 : 2) + (u === home ? 0 : 1);
    return units
      .map((u, i) => ({ u, i, rank: rank(u), load: u.load(), held: this.held.get(u) ?? 0 }))
      .sort((a, b) => a.rank - b.rank || (a.rank < 2 ? a.load - b.load || a.held - b.held : 0) || a.i - b.i)
      .map((x) => x.u);
  }

  /** Remembers which upstream served a conversation: its prefix is in that server's KV cache now. */
  served(conversation: string, unit: UpstreamUnit): void {
    this.forget(conversation);
    this.lastServed.set(conversation, unit);
    this.held.set(unit, (this.held.get(unit) ?? 0) + 1);
    if (this.lastServed.size > AFFINITY_LIMIT) this.forget(this.lastServed.keys().next().value as string);
  }

  private forget(conversation: string): void {
    const unit = this.lastServed.get(conversation);
    if (!unit) return;
    this.lastServed.delete(conversation);
    this.held.set(unit, (this.held.get(unit) ?? 1) - 1);
  }

  /** Every model any upstream serves now, with the upstreams serving it, and the aliases. */
  catalog(): { models: Map<string, string[]>; aliases: readonly Alias[] } {
    const models = new Map<string, string[]>();
    for (const u of this.units) for (const m of u.models()) models.set(m, [...(models.get(m) ?? []), u.name]);
    return { models, aliases: this.aliases };
  }

  /**
   * GET /v1/models through the sidecar: every upstream's models and the exact aliases, each once, in OpenAI's shape
   * with the fields Anthropic's list has too (type, display_name), and the upstreams that serve each.
   */
  modelList(): object {
    const { models } = this.catalog();
    const entry = (id: string, extra: object) => ({ id, object: "model", type: "model", display_name: id, ...extra });
    const data = [
      ...[...models].map(([id, upstreams]) => entry(id, { owned_by: "llamacpp", upstreams })),
      ...this.aliases
        .filter((a) => !a.pattern.includes("*") && !models.has(a.pattern))
        .map((a) => entry(a.pattern, { owned_by: "llama-sidecar", alias_of: a.model })),
    ];
    return { object: "list", data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
  }

  private notFound(model: string): SidecarError {
    const { models } = this.catalog();
    const names = [...models.keys()];
    const aliases = this.aliases.map((a) => `${a.pattern} -> ${a.model}`);
    const known = names.length > 0 ? names.join(", ") : "none listed yet";
    const via = aliases.length > 0 ? `; aliases: ${aliases.join(", ")}` : "";
    return new SidecarError("model_not_found", `model "${model}" is not served here; models: ${known}${via}`);
  }

  /** Reads every router's model list again (a model asked for that none listed may have come since). */
  async refreshRouters(): Promise<void> {
    await Promise.all(
      this.hosts.map((h) => (kindOf(h.monitor.status).servesByName ? h.monitor.refreshModels() : undefined)),
    );
  }

  async start(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.start()));
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.close()));
  }
}
