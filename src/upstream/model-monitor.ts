// One model of a router-mode llama-server, watched through the router: online while the router is and lists it
// (loaded or ready to load on demand), loading while its child server loads; its slots and context from the
// arguments the router gives the child, or the child's own /props once loaded.

import { objectOrEmpty, parseObject } from "../wire/json.js";
import { callUpstream, type Upstream } from "./client.js";
import { kindOf, UpstreamMonitor, type UpstreamProps, type UpstreamStatus } from "./monitor.js";
import type { RouterModel } from "./router-models.js";

export class ModelMonitor extends UpstreamMonitor {
  /** The loaded child's slot count, asked once per load where the router's arguments do not say. */
  private childSlots: number | undefined;

  constructor(
    upstream: Upstream,
    private readonly host: UpstreamMonitor,
    readonly modelId: string,
  ) {
    super(upstream, 1000);
    host.on("change", () => void this.check());
    host.on("models", () => void this.check());
  }

  /** The router's entry for this model, as last read. */
  get entry(): RouterModel | undefined {
    return this.host.status.props?.routerModels?.find((m) => m.id === this.modelId);
  }

  override async check(): Promise<UpstreamStatus> {
    const host = this.host.status;
    const m = this.entry;
    if (host.state !== "online") this.derive({ state: host.state, detail: host.detail });
    else if (!m) this.derive({ state: "unreachable", detail: "the router no longer lists this model" });
    else {
      const ready = kindOf(host).isReady(m.state);
      if (ready && m.slots === undefined && this.childSlots === undefined) await this.askSlots();
      if (!ready) this.childSlots = undefined;
      const state = m.state === "loading" ? "loading" : "online";
      this.derive({ state, detail: m.state === "failed" ? "its last load failed" : undefined, props: this.props(m) });
    }
    return this.status;
  }

  private props(m: RouterModel): UpstreamProps {
    return {
      model: m.id,
      totalSlots: m.slots ?? this.childSlots,
      nCtx: m.nCtx,
      models: [m.id, ...m.aliases],
      modelState: m.state,
      buildInfo: this.host.status.props?.buildInfo,
    };
  }

  /** Asked only while loaded, at a path that does not load it. */
  private async askSlots(): Promise<void> {
    const path = kindOf(this.host.status).propsPath(this.modelId);
    const reply = await callUpstream(this.upstream, path, { timeoutMs: 5000 }).catch(() => undefined);
    const slots = reply?.status === 200 ? objectOrEmpty(parseObject(reply.text)).total_slots : undefined;
    if (typeof slots === "number" && slots > 0) this.childSlots = slots;
  }

  /** Like a health check's update, and a change of the model's own state (loaded, unloaded) is a change too. */
  private derive(next: Omit<UpstreamStatus, "since">): void {
    const prev = this.current;
    if (prev && prev.state === next.state && prev.props?.modelState !== next.props?.modelState) {
      this.current = { ...next, since: prev.since };
      this.emit("change", this.current, prev);
      return;
    }
    this.update(next);
  }

  /** Driven by the router's own monitor: no polling of its own. */
  override start(): void {}
  override stop(): void {}
}
