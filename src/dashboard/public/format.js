// @ts-check
// Numbers in human units (187.2K tokens, 1.2 s), shared by the server (banner, summary) and the dashboard page.

/** @type {[number, string][]} */
const UNITS = [
  [1e12, "T"],
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "K"],
];

/** @param {number} n */
export function humanCount(n) {
  const abs = Math.abs(n);
  if (abs < 1000) return String(Math.round(n));
  for (const [div, unit] of UNITS) {
    if (abs >= div) return `${(n / div).toFixed(1).replace(/\.0$/, "")}${unit}`;
  }
  return String(n);
}

/** @param {number} ms */
export function humanDuration(ms) {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** @param {number} tps */
export function humanRate(tps) {
  return tps >= 100 ? `${Math.round(tps)} tok/s` : `${tps.toFixed(1)} tok/s`;
}

/** @param {number} ratio */
export function humanPercent(ratio) {
  return `${(ratio * 100).toFixed(ratio >= 0.995 || ratio === 0 ? 0 : 1)}%`;
}

/** "May 12" @param {string} iso */
export function shortDate(iso) {
  return new Date(iso).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

/**
 * "244.2K prompt tokens · 19.6K generated · 69 requests since May 12"
 * @param {number} prompt @param {number} generated @param {number} requests @param {string} sinceIso
 */
export function summaryLine(prompt, generated, requests, sinceIso) {
  return `${humanCount(prompt)} prompt tokens · ${humanCount(generated)} generated · ${humanCount(requests)} requests since ${shortDate(sinceIso)}`;
}
