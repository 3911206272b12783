// llama-swap (github.com/mostlygeek/llama-swap) as an upstream: its models from /v1/models (each marked
// owned_by "llama-swap"), which of them runs from /running (starting, ready, stopping), read as a router's models
// are, so the sidecar treats both alike: one unit per model, scraped only while its server is ready.
import { objectOrEmpty, parseObject } from "../wire/json.js";
import type { ModelState, RouterModel } from "./router-models.js";

/** Is this /v1/models answer llama-swap's? */
export function isLlamaSwapList(text: string): boolean {
  const data = parseObject(text)?.data;
  return Array.isArray(data) && data.some((m) => objectOrEmpty(m).owned_by === "llama-swap");
}

/** llama-swap's process states (internal/process/process.go), as a router's model states. */
const STATES: Record<string, ModelState> = { ready: "loaded", starting: "loading", stopping: "unloaded" };

/** Its models, with the state /running gives each (a model not running is unloaded). */
export function readSwapModels(modelsText: string, runningText: string | undefined): RouterModel[] {
  const running = objectOrEmpty(parseObject(runningText ?? "")).running;
  const states = new Map<string, ModelState>();
  for (const r of Array.isArray(running) ? running : []) {
    const entry = objectOrEmpty(r);
    if (typeof entry.model === "string" && typeof entry.state === "string")
      states.set(entry.model, STATES[entry.state] ?? "unloaded");
  }
  const data = parseObject(modelsText)?.data;
  return (Array.isArray(data) ? data : []).flatMap((raw) => {
    const m = objectOrEmpty(raw);
    if (typeof m.id !== "string") return [];
    const swap = objectOrEmpty(objectOrEmpty(m.meta).llamaswap);
    // An alias listed as an entry of its own (includeAliasesInList) is an alias, not a model.
    if (swap.type === "alias") return [];
    const aliases = Array.isArray(swap.aliases) ? swap.aliases.filter((a): a is string => typeof a === "string") : [];
    return [{ id: m.id, aliases, state: states.get(m.id) ?? "unloaded" }];
  });
}
