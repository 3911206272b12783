// A cache miss's place in both prompts, side by side: the text around where the turn's prompt stopped repeating the
// last one's, read from both turns' captured bodies (--capture-content) along the forensics' own block paths.
import { promptBlocks } from "../forensics/fingerprint.js";
import type { LogRow } from "../store/log-row.js";
import { parseObject } from "../wire/json.js";
import { classify } from "../wire/routes.js";

/** Characters shown on each side of the change. */
const AROUND = 240;

export interface MissText {
  /** The block the miss is in, as the location names it (`messages[2].content[0]`, `system[1]`). */
  path: string;
  location: string;
  /** The earlier turn's text at that place (undefined for a block added), and this turn's (undefined if removed). */
  before?: string;
  after?: string;
  /** Where in `after` (and `before`) the change starts, in characters of the excerpt. */
  changeAt?: number;
}

/** The block path and character range a miss's location names (explain.ts writes them). */
function place(location: string): { path: string; at?: number } | undefined {
  const m = /^(\S+) (?:changed(?: at characters (\d+)-\d+)?|removed|added)$/.exec(location);
  if (m) return { path: m[1] as string, at: m[2] === undefined ? undefined : Number(m[2]) };
  const cut = /^history cut short before (\S+)$/.exec(location);
  return cut ? { path: cut[1] as string } : undefined;
}

function blockText(route: string, body: string, path: string): string | undefined {
  const dialect = classify(route).dialect;
  const json = parseObject(body);
  if (!dialect || !json) return undefined;
  return promptBlocks(dialect, json)?.find((b) => b.path === path)?.text;
}

const excerpt = (text: string | undefined, from: number) => text?.slice(from, from + 2 * AROUND);

/** The two prompts' text around a miss, or undefined when its location names no place in the prompt. */
export function missText(row: LogRow, before: string, after: string): MissText | undefined {
  const location = row.missLocation;
  const where = location ? place(location) : undefined;
  if (!location || !where) return undefined;
  const from = Math.max(0, (where.at ?? 0) - AROUND);
  return {
    path: where.path,
    location,
    before: excerpt(blockText(row.route, before, where.path), from),
    after: excerpt(blockText(row.route, after, where.path), from),
    changeAt: where.at === undefined ? undefined : where.at - from,
  };
}
