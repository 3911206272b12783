// Ledger (a) arithmetic: lifetime value of each llama-server counter = the sum over its incarnations.
import type { UpstreamLedger } from "../store/schema.js";

export interface Scrape {
  /** Process-Start-Time-Unix, where the build sends it. */
  incarnation: string | null;
  counters: Record<string, number>;
  at: number;
  /** The monitor saw llama-server loading its model since the last scrape: it was restarted. */
  sawRestart?: boolean;
}

const MAX_RESTART_TIMES = 100;

function anyCounterWentDown(last: Record<string, number>, now: Record<string, number>): boolean {
  return Object.entries(now).some(([k, v]) => v < (last[k] ?? 0));
}

/** Did llama-server restart between the ledger's last scrape and this one? */
function isNewIncarnation(ledger: UpstreamLedger, s: Scrape): boolean {
  if (Object.keys(ledger.last).length === 0) return false; // first scrape ever
  if (s.incarnation !== null || ledger.incarnation !== null) {
    // The header, where either side has it, is the authority (a build upgrade also counts as a restart).
    return s.incarnation !== ledger.incarnation;
  }
  return Boolean(s.sawRestart) || anyCounterWentDown(ledger.last, s.counters);
}

/**
 * Applies a scrape to the ledger; returns true if it found a restart. A counter that went down within one
 * incarnation (its start-time header unchanged) has no restart to explain it: the value is a fault, the last good
 * one is kept so a lifetime total never goes down, and `wentDown` hears of it.
 */
export function applyScrape(ledger: UpstreamLedger, s: Scrape, wentDown?: (counter: string) => void): boolean {
  const restarted = isNewIncarnation(ledger, s);
  const counters = { ...s.counters };
  if (!restarted) {
    for (const [k, v] of Object.entries(counters)) {
      const last = ledger.last[k];
      if (last === undefined || v >= last) continue;
      counters[k] = last;
      wentDown?.(k);
    }
    // A counter missing from this scrape (its value was left out as invalid) keeps its last good value: dropping
    // it would take it out of the lifetime total now, and out of the bank at the next restart.
    for (const [k, last] of Object.entries(ledger.last)) if (!(k in counters)) counters[k] = last;
  }
  if (restarted) {
    // The old incarnation's last seen values are its final ones: bank them.
    for (const [k, v] of Object.entries(ledger.last)) ledger.base[k] = (ledger.base[k] ?? 0) + v;
    ledger.restartCount++;
    ledger.restarts.push(s.at);
    if (ledger.restarts.length > MAX_RESTART_TIMES)
      ledger.restarts.splice(0, ledger.restarts.length - MAX_RESTART_TIMES);
  }
  ledger.last = counters;
  ledger.incarnation = s.incarnation;
  ledger.lastScrapeAt = s.at;
  return restarted;
}

export function lifetimeCounters(ledger: UpstreamLedger): Record<string, number> {
  const out: Record<string, number> = { ...ledger.base };
  for (const [k, v] of Object.entries(ledger.last)) out[k] = (out[k] ?? 0) + v;
  return out;
}
