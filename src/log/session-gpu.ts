// What a session's requests cost the GPU (watt-hours, tokens per joule, money at the user's price) and how well
// its draft model guessed (speculative decoding), from the request log's rows.
import type { LogRow } from "../store/log-row.js";

/** An electricity price per kWh, as --energy-price gives it. */
export interface EnergyPrice {
  readonly perKwh: number;
  readonly currency: string;
}

export interface SessionEnergy {
  wattHours: number;
  generatedPerJoule?: number;
  /** At --energy-price, where one is set. */
  cost?: { amount: number; currency: string };
}

export interface SessionDraft {
  /** Tokens the draft model proposed, and those the model kept. */
  drafted: number;
  accepted: number;
  acceptance: number;
}

/** The session's share of the GPU's energy, when any of its requests has one. */
export function sessionEnergy(
  rows: readonly LogRow[],
  generated: number,
  price: EnergyPrice | undefined,
): SessionEnergy | undefined {
  const measured = rows.filter((r) => r.energyJ !== undefined);
  if (measured.length === 0) return undefined;
  const joules = measured.reduce((a, r) => a + (r.energyJ ?? 0), 0);
  const wattHours = joules / 3600;
  return {
    wattHours,
    generatedPerJoule: joules > 0 ? generated / joules : undefined,
    cost: price && { amount: (wattHours / 1000) * price.perKwh, currency: price.currency },
  };
}

/** The draft model's acceptance over the session, when any of its requests was drafted for. */
export function sessionDraft(rows: readonly LogRow[]): SessionDraft | undefined {
  const drafted = rows.reduce((a, r) => a + (r.draft ?? 0), 0);
  if (drafted === 0) return undefined;
  const accepted = rows.reduce((a, r) => a + (r.draftAccepted ?? 0), 0);
  return { drafted, accepted, acceptance: accepted / drafted };
}

/** A small amount of money with two significant digits, in its currency: "EUR 0.0012". */
export function money(amount: number, currency: string): string {
  const digits = amount >= 1 ? 2 : Math.min(10, 1 - Math.floor(Math.log10(Math.max(amount, 1e-10))));
  return `${currency} ${amount.toFixed(digits)}`;
}

/** The report's sentences on energy and drafting. */
export function gpuSentences(energy: SessionEnergy | undefined, draft: SessionDraft | undefined): string {
  const wh = (w: number) => (w < 0.1 ? w.toFixed(4) : w.toFixed(2));
  const perJoule = energy?.generatedPerJoule;
  const cost = energy?.cost && `, ${money(energy.cost.amount, energy.cost.currency)}`;
  const e = energy
    ? ` The GPU drew ${wh(energy.wattHours)} Wh for it${cost ?? ""}${perJoule === undefined ? "" : ` (${perJoule.toFixed(2)} generated tokens per joule)`}.`
    : "";
  const d = draft
    ? ` The draft model's tokens were accepted ${Math.round(draft.acceptance * 100)}% of the time (${draft.accepted} of ${draft.drafted}).`
    : "";
  return `${e}${d}`;
}
