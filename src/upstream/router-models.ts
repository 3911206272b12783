// The models of a llama-server in router mode (--models-dir, --models-preset), as its /v1/models lists them: each
// with its aliases, whether it is loaded, and the slots and context its child server gets.
import { objectOrEmpty, parseObject } from "../wire/json.js";

/** A router's model states (llama.cpp server-models.h); "failed" is an unloaded model whose last load failed. */
export type ModelState = "loaded" | "loading" | "unloaded" | "sleeping" | "failed";

export interface RouterModel {
  id: string;
  aliases: string[];
  state: ModelState;
  /** Its child server's --parallel (from the arguments the router starts it with), where given. */
  slots?: number;
  /** Its child server's context size: the loaded model's n_ctx, else its --ctx-size. */
  nCtx?: number;
}

const STATES = new Set(["loaded", "loading", "unloaded", "sleeping"]);

function argValue(args: unknown[], ...names: string[]): number | undefined {
  const at = args.findIndex((a) => typeof a === "string" && names.includes(a));
  const value = at < 0 ? undefined : Number(args[at + 1]);
  return value !== undefined && Number.isInteger(value) && value > 0 ? value : undefined;
}

function readModel(raw: unknown): RouterModel | undefined {
  const m = objectOrEmpty(raw);
  if (typeof m.id !== "string") return undefined;
  const status = objectOrEmpty(m.status);
  const args = Array.isArray(status.args) ? status.args : [];
  const value = typeof status.value === "string" && STATES.has(status.value) ? status.value : "unloaded";
  const state = (status.failed === true && value === "unloaded" ? "failed" : value) as ModelState;
  const meta = objectOrEmpty(m.meta);
  return {
    id: m.id,
    aliases: Array.isArray(m.aliases) ? m.aliases.filter((a): a is string => typeof a === "string") : [],
    state,
    slots: argValue(args, "--parallel", "-np"),
    nCtx: typeof meta.n_ctx === "number" ? meta.n_ctx : argValue(args, "--ctx-size", "-c"),
  };
}

/** A router's /v1/models answer, read; entries it cannot read are left out. */
export function readRouterModels(text: string): RouterModel[] {
  const data = parseObject(text)?.data;
  return Array.isArray(data) ? data.flatMap((m) => readModel(m) ?? []) : [];
}

/** Loaded models answer at once; a sleeping one wakes on the request, with its counters. */
export const isReady = (state: ModelState | undefined) => state === "loaded" || state === "sleeping";
