// Times as people write them on a command line or in a URL: "7d" (ago), "2026-12-07", an ISO time, epoch ms.

const DAY_MS = 86_400_000;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS };

/** Epoch ms for `text`, or an error message saying what is accepted. Relative times count back from `now`. */
export function parseTime(text: string, now = Date.now()): number | { error: string } {
  const t = text.trim();
  const ago = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(t);
  if (ago) return now - Number(ago[1]) * (UNIT_MS[ago[2] as string] as number);
  if (/^\d{10,}$/.test(t)) return Number(t);
  const midnight = new Date(now);
  midnight.setHours(0, 0, 0, 0);
  if (t === "today") return midnight.getTime();
  if (t === "yesterday") return midnight.getTime() - DAY_MS;
  // A date alone is local midnight, as a person means it (Date.parse would take it as UTC).
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  if (date) return new Date(Number(date[1]), Number(date[2]) - 1, Number(date[3])).getTime();
  const parsed = Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}T/.test(t) && Number.isFinite(parsed)) return parsed;
  return {
    error: `${JSON.stringify(text)} is not a time: use a duration back from now (30m, 24h, 7d), today, yesterday, a date (2026-12-07), an ISO time or epoch milliseconds`,
  };
}
