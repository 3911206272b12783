// @ts-check
// The Sessions view: sessions of a day or a week from the request log, and one session's timeline, one bar per turn
// split into queue, prefill (needed and lost to a miss), generation and the gap before it (with the agent's
// telemetry: its tools, by tool, and the wait for the person); the context as a line.
import { el, make } from "./dom.js";
import { humanCount, humanDuration } from "./format.js";

/** @typedef {import("../../store/log-db.js").SessionSummary} SessionSummary */
/** @typedef {import("../../log/session-report.js").SessionReport} SessionReport */
/** @typedef {import("../../log/session-report.js").Turn} Turn */
/** @typedef {<T>(path: string) => Promise<T>} Api */
/** @typedef {"today" | "yesterday" | "7d"} Span */

/** The query for a span of days: today from midnight, yesterday's day, or the last seven days. */
function spanQuery(/** @type {Span} */ span) {
  if (span === "today") return "since=today";
  if (span === "yesterday") return "since=yesterday&until=today";
  return "since=7d";
}

/** A turn's pieces, in the order they ran, each with its share of the longest turn's stretch. */
function pieces(/** @type {Turn} */ t) {
  const lost = Object.entries(t.time.lostPrefillMs);
  const tools = Object.entries(t.time.toolMs);
  const told = tools.length > 0 || t.time.personMs > 0;
  return [
    ...tools.map(([tool, ms]) => ["tool", ms, `the agent's tool ${tool}`]),
    ["person", t.time.personMs, "waiting for the person"],
    [
      "gap",
      t.time.gapMs,
      told ? "the agent itself, between turns" : "before this turn: the agent's tools and the person",
    ],
    ["queue", t.time.queueMs, "waiting for a slot"],
    ...lost.map(([cause, ms]) => ["lost", ms, `prefill lost to a cache miss (${cause})`]),
    ["prefill", t.time.prefillMs + t.time.unsplitMs, "prefill"],
    ["generation", t.time.generationMs, "generation"],
    ["other", t.time.otherMs, "failed or cut"],
  ].filter(([, ms]) => /** @type {number} */ (ms) > 0);
}

/** A turn's captured bodies, and for a miss the two prompts side by side where they part (--capture-content). */
async function showTurn(/** @type {Api} */ api, /** @type {Turn} */ t) {
  const box = el("turn-content");
  box.hidden = false;
  box.replaceChildren(make("h4", undefined, `turn #${t.turn}`));
  if (!t.captured) {
    box.append(
      make("p", "muted", "No captured content for this turn: start the sidecar with --capture-content to keep it."),
    );
    return;
  }
  try {
    if (t.missCause) {
      /** @type {{ location: string; before?: string; after?: string }} */
      const m = await api(`/api/requests/${encodeURIComponent(t.id)}/miss`);
      const side = (/** @type {string} */ title, /** @type {string | undefined} */ text) => {
        const col = make("div", "miss-side");
        col.append(make("div", "muted", title), make("pre", undefined, text ?? "(not in this prompt)"));
        return col;
      };
      const pair = make("div", "miss-pair");
      pair.append(side("the turn before", m.before), side(`this turn: ${m.location}`, m.after));
      box.append(pair);
    }
    /** @type {{ request: string; response?: string }} */
    const c = await api(`/api/requests/${encodeURIComponent(t.id)}/content`);
    box.append(make("div", "muted", "request"), make("pre", undefined, c.request));
    box.append(make("div", "muted", "response"), make("pre", undefined, c.response ?? ""));
  } catch {
    box.append(
      make("p", "muted", "No captured content for this turn: start the sidecar with --capture-content to keep it."),
    );
  }
}

/** One bar per turn, widths proportional to time, a miss marked with its cause and place. */
function timeline(/** @type {SessionReport} */ r, /** @type {Api} */ api) {
  const box = make("div", "timeline");
  const longest = Math.max(
    1,
    ...r.turns.map((t) => pieces(t).reduce((a, [, ms]) => a + /** @type {number} */ (ms), 0)),
  );
  for (const t of r.turns) {
    const row = make("div", "turn");
    row.dataset.turn = String(t.turn);
    row.append(make("span", "turn-label", `#${t.turn}`));
    const bar = make("div", "turn-bar");
    for (const [kind, ms, what] of pieces(t)) {
      const piece = make("span", `piece ${kind}`);
      piece.style.width = `${(Number(ms) / longest) * 100}%`;
      piece.title = `${what}: ${humanDuration(Number(ms))}`;
      bar.append(piece);
    }
    row.append(bar);
    const notes = [
      t.missCause && `miss: ${t.missCause}${t.missLocation ? ` at ${t.missLocation}` : ""}`,
      t.compacted && `compacted ${humanCount(t.compacted.from)} → ${humanCount(t.compacted.to)}`,
      t.slowdownCause && `slow: ${t.slowdownCause}`,
      t.background && `background ${t.background}`,
      Object.keys(t.time.toolMs).length > 0 && `after ${Object.keys(t.time.toolMs).join(", ")}`,
      t.agent && `Claude Code waited ${humanDuration(t.agent.durationMs)}`,
    ].filter(Boolean);
    row.append(make("span", t.missCause ? "turn-note miss" : "turn-note muted", notes.join(" · ")));
    row.addEventListener("click", () => void showTurn(api, t));
    box.append(row);
  }
  return box;
}

/** The prompt per turn against the slot's context, as a line. */
function contextLine(/** @type {SessionReport} */ r) {
  const points = r.turns.filter((t) => t.prompt !== undefined);
  const nCtx = Math.max(1, r.peakContext?.nCtx ?? 0, ...points.map((t) => /** @type {number} */ (t.prompt)));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.classList.add("context-line");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  const step = points.length > 1 ? 100 / (points.length - 1) : 0;
  line.setAttribute(
    "points",
    points.map((t, i) => `${i * step},${30 - (/** @type {number} */ (t.prompt) / nCtx) * 30}`).join(" "),
  );
  svg.append(line);
  return svg;
}

/** What each colour of a bar means. */
function legend(/** @type {boolean} */ agent) {
  const box = make("div", "legend");
  for (const [kind, name] of [
    ...(agent
      ? [
          ["tool", "the agent's tools"],
          ["person", "waiting for the person"],
          ["gap", "the agent itself"],
        ]
      : [["gap", "gap before the turn"]]),
    ["queue", "queue"],
    ["prefill", "prefill"],
    ["lost", "prefill lost to a miss"],
    ["generation", "generation"],
  ]) {
    box.append(make("span", `swatch piece ${kind}`), make("span", undefined, name));
  }
  return box;
}

/** The agent's own account (its telemetry): its tools with their calls and time, its prompts and calls. */
function agentLine(/** @type {SessionReport} */ r) {
  if (!r.agent) return [];
  const tools = r.agent.tools.map(
    (t) => `${t.tool} ×${t.calls}${t.failures ? ` (${t.failures} failed)` : ""} ${humanDuration(t.ms)}`,
  );
  const cost = r.agent.costUsd === undefined ? "" : ` · its own cost estimate $${r.agent.costUsd.toFixed(4)}`;
  return [
    make(
      "p",
      "muted agent-line",
      `the agent reported ${r.agent.prompts} prompt(s), ${r.agent.calls} API call(s)${cost} · tools: ${tools.join(", ") || "none"}`,
    ),
  ];
}

/** @param {SessionReport} r @param {Api} api */
function renderReport(r, api) {
  const box = el("session-report");
  el("turn-content").hidden = true;
  box.replaceChildren(
    make("h4", undefined, `${r.id} · ${r.models.join(", ")} · ${r.turns.length} turns · ${humanDuration(r.wallMs)}`),
    make("p", "session-summary", r.summary),
    legend(r.agent !== undefined),
    ...agentLine(r),
    timeline(r, api),
    make("div", "muted", `context per turn, of ${humanCount(r.peakContext?.nCtx ?? 0)}`),
    contextLine(r),
  );
  box.hidden = false;
}

/** @param {SessionSummary[]} list @param {(id: string) => void} pick */
function renderList(list, pick) {
  const body = el("sessions");
  body.replaceChildren(
    ...list.map((s) => {
      const tr = make("tr", "session-row");
      tr.dataset.session = s.id;
      for (const [text, cls] of [
        [new Date(s.startedAt).toLocaleTimeString(), ""],
        [humanDuration(s.endedAt - s.startedAt), "num"],
        [String(s.requests), "num"],
        [s.models.join(", "), ""],
        [`${humanCount(s.prefill)} / ${humanCount(s.cached)} / ${humanCount(s.generated)}`, "num"],
        [s.misses ? `${s.misses} (${humanDuration(s.lostPrefillMs)})` : "0", "num"],
        [s.id.slice(0, 13), "muted"],
      ]) {
        tr.append(make("td", cls, text));
      }
      tr.addEventListener("click", () => pick(s.id));
      return tr;
    }),
  );
  el("sessions-empty").hidden = list.length > 0;
}

/** Starts the view: the list for the chosen span, refreshed with the page; a session's report on a click. */
export function startSessions(/** @type {Api} */ api) {
  /** @type {Span} */
  let span = "today";
  const pick = async (/** @type {string} */ id) => {
    /** @type {{ report?: SessionReport }} */
    const s = await api(`/api/sessions/${encodeURIComponent(id)}`);
    if (s.report) renderReport(s.report, api);
  };
  const refresh = async () => {
    /** @type {{ sessions: SessionSummary[] }} */
    const page = await api(`/api/sessions?${spanQuery(span)}&limit=20`);
    renderList(page.sessions, (id) => void pick(id));
  };
  for (const button of document.querySelectorAll("[data-span]")) {
    button.addEventListener("click", () => {
      span = /** @type {Span} */ (/** @type {HTMLElement} */ (button).dataset.span);
      for (const b of document.querySelectorAll("[data-span]")) b.setAttribute("aria-selected", String(b === button));
      refresh().catch(() => {});
    });
  }
  return refresh;
}
