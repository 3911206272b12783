// Which upstream a request goes to, and failing over to the next before any byte reached the client: a request is
// admitted to one upstream's queue at a time, and a server that refused the connection or answered 503 (loading)
// is left for the next that serves the model.
import { createHash } from "node:crypto";
import type { AdmissionQueue, Ticket } from "../admission/queue.js";
import { SidecarError } from "../errors.js";
import type { UpstreamFleet } from "../fleet/fleet.js";
import type { UpstreamUnit } from "../fleet/upstream-unit.js";
import type { UpstreamResponse } from "../upstream/response.js";
import type { SidecarContext } from "../wire/context.js";
import type { JsonObject } from "../wire/json.js";
import type { Exchange } from "./exchange.js";
import type { Outgoing } from "./outgoing.js";

export interface ChoiceDeps {
  fleet: UpstreamFleet;
  /** Logs a request leaving an upstream that failed it for the next one. */
  logFailover(from: string, to: string, why: string): void;
}

/** The messages up to and including the first user message (OpenAI chat puts the system prompt before it). */
function openingMessages(messages: unknown[]): unknown[] {
  const firstUser = messages.findIndex((m) => (m as JsonObject | null)?.role === "user");
  return messages.slice(0, firstUser < 0 ? 1 : firstUser + 1);
}

/**
 * The conversation a request belongs to, for the upstream whose cache holds its prefix: the client's session, or
 * a hash of what opens it (model, system prompt or instructions, first user message or input item), which the
 * turns of one conversation share. Embeddings have no conversation: they go where the load is least.
 */
function conversationOf(ex: Exchange, json: JsonObject | undefined): string | undefined {
  if (ex.prompt?.sessionKey !== undefined) return `s:${ex.prompt.sessionKey}`;
  if (!json || ex.route.operation === "embeddings") return undefined;
  const turns = Array.isArray(json.messages) ? json.messages : Array.isArray(json.input) ? json.input : undefined;
  const opening = turns ? openingMessages(turns) : (json.prompt ?? json.input);
  return `h:${createHash("sha1")
    .update(JSON.stringify([json.model, json.system ?? json.instructions, opening]))
    .digest("base64url")}`;
}

/** The fleet's choice; a model none serves is asked about once more, after the routers' lists are read again. */
async function choose(fleet: UpstreamFleet, model: string | undefined, conversation: string | undefined) {
  try {
    return fleet.choose(model, conversation);
  } catch (err) {
    if ((err as SidecarError).code !== "model_not_found") throw err;
    await fleet.refreshRouters();
    return fleet.choose(model, conversation);
  }
}

/** The upstreams to try, best first; an alias rewrites the body's model to the local name. */
export async function chooseUpstreams(
  deps: ChoiceDeps,
  ex: Exchange,
  json: JsonObject | undefined,
): Promise<UpstreamUnit[]> {
  if (ex.tags.backgroundPolicy === "route" && deps.fleet.background) return [deps.fleet.background];
  const model = ex.model?.model;
  const needsOrder = deps.fleet.units.length > 1;
  const conversation = needsOrder ? conversationOf(ex, json) : undefined;
  ex.conversation = conversation;
  const choice = await choose(deps.fleet, model, conversation);
  if (choice.aliasedTo !== undefined && json) {
    ex.tags.aliasedTo = choice.aliasedTo;
    json.model = choice.aliasedTo;
  }
  return choice.units;
}

/** Errors that mean an upstream sent nothing back: the request may go to another (the client has seen nothing). */
const FAIL_OVER = new Set(["upstream_unreachable", "upstream_error"]);

/** What sending to one upstream needs: admission to its queue, then the request sent. */
export interface Attempt {
  admit(queue: AdmissionQueue): Promise<Ticket | undefined>;
  send(unit: UpstreamUnit): Promise<{ out: Outgoing; up: UpstreamResponse }>;
}

export interface Sent {
  unit: UpstreamUnit;
  ticket?: Ticket;
  out: Outgoing;
  up: UpstreamResponse;
}

class LoadingAnswer extends Error {}

/** A router's model that is not loaded is loaded first, its load timed apart (the request is admitted meanwhile). */
async function loadFirst(ex: Exchange, unit: UpstreamUnit): Promise<void> {
  const load = await unit.prepare?.(ex.cancel);
  if (!load) return;
  ex.tags.modelLoadMs = Math.round((ex.tags.modelLoadMs ?? 0) + load.waitedMs);
  if (load.triggered) ex.tags.modelLoaded = true;
}

/** Sends to each upstream in turn until one answers (anything but a 503 while another is left). */
export async function sendToFirstThatAnswers(
  deps: ChoiceDeps,
  ex: Exchange,
  ctx: SidecarContext,
  units: readonly UpstreamUnit[],
  attempt: Attempt,
): Promise<Sent> {
  for (let i = 0; i < units.length; i++) {
    const unit = units[i] as UpstreamUnit;
    const last = i === units.length - 1;
    ex.unit = unit;
    ex.tags.upstream = unit.name;
    ex.tags.upstreamModel = unit.model;
    const ticket = await attempt.admit(unit.queue);
    try {
      // Only a router's unit loads models: a plain server's requests skip the await.
      if (unit.prepare) await loadFirst(ex, unit);
      const { out, up } = await attempt.send(unit);
      if (up.statusCode === 503 && !last) {
        await up.body.dump().catch(() => {});
        throw new LoadingAnswer("answered 503 (loading)");
      }
      if (ex.conversation !== undefined) deps.fleet.served(ex.conversation, unit);
      return { unit, ticket, out, up };
    } catch (err) {
      ticket?.release();
      const code = (err as SidecarError).code;
      const movable = err instanceof LoadingAnswer || (err instanceof SidecarError && FAIL_OVER.has(code));
      if (last || !movable || ex.cancel.aborted || ctx.res.headersSent) throw err;
      ex.tags.failedOver = [...(ex.tags.failedOver ?? []), unit.name];
      // The health check now, not at its next turn: the fleet stops choosing a server that is down.
      void unit.monitor.check();
      deps.logFailover(unit.name, units[i + 1]?.name ?? "", (err as Error).message);
    }
  }
  throw new SidecarError("internal", "no upstream to send to");
}
