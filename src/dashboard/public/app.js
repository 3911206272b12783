// @ts-check
// The live dashboard: polls /api/stats (and /api/history), updates the page in place. Never shows prompt text.
import { el } from "./dom.js";
import { humanCount, humanDuration, humanPercent, humanRate } from "./format.js";
import { renderGpus } from "./gpu.js";
import { startSessions } from "./sessions.js";

/** @typedef {import("../../stats/views.js").StatsView} StatsView */
/** @typedef {import("../../stats/views.js").HistoryView} HistoryView */
/** @typedef {StatsView["recent"][number]} RecentRequest */
/** @typedef {import("../../stats/history.js").HistoryPoint} HistoryPoint */
/** @typedef {import("uplot")} UPlot */
/** @typedef {"minutes" | "hours"} Range */

const STATS_EVERY_MS = 2000;
/** While requests run, their phase and prefill progress are worth a faster look. */
const BUSY_STATS_EVERY_MS = 1000;
const HISTORY_EVERY_MS = 30_000;

/** @param {string} name @param {string} text */
function set(name, text) {
  const node = el(name);
  if (node && node.textContent !== text) node.textContent = text;
}

const dash = "–";
/**
 * @template T
 * @param {T | null | undefined} v
 * @param {(v: T) => string} f
 */
const orDash = (v, f) => (v === null || v === undefined ? dash : f(v));

/** @param {StatsView} s */
function renderHeader(s) {
  const pill = el("upstream-state");
  pill.className = `pill ${s.upstream.state}`;
  pill.textContent = s.upstream.state === "unreachable" ? "down" : s.upstream.state;
  set("upstream-model", s.upstream.model ?? "");
  const r = s.upstream.restarts.count;
  set("restarts", r === 0 ? "no restarts" : `${r} restart${r === 1 ? "" : "s"}`);
  set("summary", s.summary);
  const store = el("store-warning");
  store.hidden = s.store.writable;
  if (!s.store.writable) {
    const unsaved = s.store.unsavedRequests;
    set(
      "store-warning",
      `The data dir is not taking writes (${s.store.error ?? "refused"}): lifetime totals stay at what is on disk` +
        (unsaved ? `, ${unsaved} finished request${unsaved === 1 ? "" : "s"} waiting to be saved` : "") +
        ". Writing resumes by itself when space returns.",
    );
  }
}

/** @param {StatsView} s */
function renderCards(s) {
  const live = s.live;
  set("generation-tps", orDash(live.generationTps, humanRate));
  set("prefill-tps", orDash(live.prefillTps, humanRate));
  // Speculative decoding only: a server without a draft model has no acceptance to show.
  el("draft-line").hidden = live.draftAcceptance === null;
  set("draft-acceptance", orDash(live.draftAcceptance, humanPercent));
  set("ttft-last", orDash(live.ttft.lastMs, humanDuration));
  set("ttft-p50", orDash(live.ttft.p50Ms, humanDuration));
  set("ttft-p95", orDash(live.ttft.p95Ms, humanDuration));
  set("cache-last", orDash(live.cacheReuse.last, humanPercent));
  set("cache-rolling", orDash(live.cacheReuse.rolling, humanPercent));
  set("prefill-saved", orDash(live.prefillSavedMs, humanDuration));
  set("queue-depth", `${live.queue.depth} waiting`);
  set("queue-active", `${live.queue.active}/${live.queue.limit}`);
  set("queue-wait", orDash(live.queue.lastWaitMs, humanDuration));
  set("background-total", humanCount(s.background.total));
  set("background-local", humanCount(s.background.local));
}

/** @param {StatsView} s */
function renderSlots(s) {
  const box = el("slots");
  const slots = s.upstream.slots;
  if (box.children.length !== slots.length) {
    box.replaceChildren(
      ...slots.map(() => {
        const row = document.createElement("div");
        row.className = "slot";
        row.innerHTML = '<span></span><div class="bar"><span></span></div><span></span>';
        return row;
      }),
    );
  }
  slots.forEach((slot, i) => {
    const [label, bar, text] = /** @type {HTMLElement[]} */ ([...(box.children[i]?.children ?? [])]);
    if (!label || !bar || !text) return;
    label.textContent = `slot ${slot.id}${slot.processing ? " ●" : ""}`;
    const fill = /** @type {HTMLElement} */ (bar.firstElementChild);
    fill.style.width = `${slot.nCtx ? Math.min(100, (100 * slot.used) / slot.nCtx) : 0}%`;
    text.textContent = `${humanCount(slot.used)} / ${humanCount(slot.nCtx)}`;
  });
  if (slots.length === 0) box.textContent = "no slot data (is llama-server running with --slots?)";
}

/** @param {string} text @param {string} [cls] */
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

/** @typedef {StatsView["upstreams"][number]} UpstreamRow */

/** The busiest slot's context use, "1.2K / 8.2K", or a dash. @param {UpstreamRow} u */
function contextUse(u) {
  const fullest = u.slots.reduce(
    (a, x) => (x.used > (a?.used ?? -1) ? x : a),
    /** @type {UpstreamRow["slots"][number] | undefined} */ (undefined),
  );
  return fullest ? `${humanCount(fullest.used)} / ${humanCount(fullest.nCtx)}` : dash;
}

/** One row per upstream (a router's models each one), shown where there are several. @param {StatsView} s */
function renderUpstreams(s) {
  const several = s.upstreams.length > 1 || s.upstreams.some((u) => u.routerModel);
  el("upstreams-card").hidden = !several;
  if (!several) return;
  const rows = s.upstreams.map((u) => {
    const tr = document.createElement("tr");
    // A router's model: whether it is loaded says more than the router's own state.
    const shown = u.state === "online" && u.modelState ? u.modelState : u.state;
    const state = cell(shown === "unreachable" ? "down" : shown, `pill ${u.state}`);
    tr.append(
      cell(u.routerModel ? `${u.name} · ${u.routerModel}` : u.name),
      state,
      cell(u.models.join(", ") || (u.model ?? dash)),
      cell(`${u.slots.filter((x) => x.processing).length} / ${u.totalSlots ?? dash}`, "num"),
      cell(contextUse(u), "num"),
      cell(orDash(u.rates.generationTps, humanRate), "num"),
      cell(orDash(u.rates.specAcceptance, humanPercent), "num"),
      cell(`${u.queue.active} + ${u.queue.depth}`, "num"),
      cell(humanCount(u.lifetime.promptTokens), "num"),
      cell(humanCount(u.lifetime.generatedTokens), "num"),
      cell(String(u.restarts.count), "num"),
    );
    tr.title = u.url;
    return tr;
  });
  el("upstreams").replaceChildren(...rows);
}

/** @param {StatsView} s */
function renderRecent(s) {
  const several = s.upstreams.length > 1;
  el("recent-upstream-head").hidden = !several;
  /** @param {RecentRequest} r */
  const where = (r) => (r.upstreamModel ? `${r.upstream} · ${r.upstreamModel}` : (r.upstream ?? dash));
  // Rebuilt from the last 50 each time: the page holds no more than that, however long it stays open.
  const rows = s.recent.map((r) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(new Date(r.startedAt).toLocaleTimeString()),
      cell(r.background ? `${r.client} (${r.background})` : r.client),
      cell(r.model ?? ""),
      ...(several ? [cell(where(r))] : []),
      cell(orDash(r.prefillTokens, humanCount), "num"),
      cell(orDash(r.cachedTokens, humanCount), "num"),
      cell(orDash(r.outputTokens, humanCount), "num"),
      cell(orDash(r.ttftMs, humanDuration), "num"),
      cell(
        orDash(r.decodeTps, (v) => v.toFixed(1)),
        "num",
      ),
      cell(r.outcome, r.outcome),
    );
    return tr;
  });
  el("recent").replaceChildren(...rows);
}

/** What each cause means to a person reading the panel. */
const CAUSES = {
  billing_header: "billing header changed",
  system_changed: "system prompt changed",
  tools_changed: "tools changed",
  history_edited: "earlier message edited",
  history_truncated: "history cut short",
  thinking_changed: "thinking settings changed",
  cache_disabled: "cache turned off",
  model_changed: "model changed",
  server_restarted: "llama-server restarted",
  context_overflow: "prompt over the context",
  different_slot: "another slot",
  other_conversation: "slot taken by another",
  unknown: "unknown",
};

/**
 * A prefill's progress: a bar, the share done and the time left ("~" where it is an estimate, not llama-server's
 * own report).
 * @param {StatsView["active"][number]["progress"]} p
 */
function progressCell(p) {
  const td = document.createElement("td");
  td.className = "progress";
  if (!p) return td;
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = `${Math.round(p.ratio * 100)}%`;
  bar.append(fill);
  const about = p.source === "estimate" ? "~" : "";
  const eta = p.etaMs === undefined ? "" : ` · ${about}${humanDuration(p.etaMs)} left`;
  const text = document.createElement("span");
  text.textContent = `${about}${Math.round(p.ratio * 100)}% of ${humanCount(p.total)}${eta}`;
  td.append(bar, text);
  return td;
}

/** @param {StatsView} s */
function renderActive(s) {
  el("active-empty").hidden = s.active.length > 0;
  const rows = s.active.map((a) => {
    const tr = document.createElement("tr");
    const phase =
      a.phase === "prefilling" && a.prefillingMs !== undefined
        ? `prefilling for ${humanDuration(a.prefillingMs)}`
        : a.phase;
    tr.append(
      cell(a.client),
      cell(a.model ?? ""),
      cell(phase, a.phase),
      progressCell(a.progress),
      cell(humanDuration(a.elapsedMs), "num"),
      cell(humanCount(a.generated), "num"),
    );
    return tr;
  });
  el("active").replaceChildren(...rows);
}

/** @param {StatsView} s */
function renderMisses(s) {
  const misses = s.cache.misses;
  el("misses-empty").hidden = misses.length > 0;
  const rows = misses.slice(0, 10).map((m) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(new Date(m.at).toLocaleTimeString()),
      cell(CAUSES[m.cause] ?? m.cause, "cause"),
      cell(m.location ?? dash),
      cell(`${humanCount(m.lostTokens)} of ${humanCount(m.expectedTokens)}`, "num"),
      cell(orDash(m.lostPrefillMs, humanDuration), "num"),
    );
    return tr;
  });
  el("misses").replaceChildren(...rows);
}

/** Slowdown causes in a few words; the "what changed" column has the detail. */
const SLOWDOWN_CAUSES = {
  deeper_context: "deeper context",
  more_decoding: "more decoding at once",
  server_restarted: "llama-server restarted",
  spec_acceptance_fell: "draft acceptance fell",
  gpu_throttled: "GPU throttled",
  gpu_shared: "GPU shared",
  memory_pressure: "GPU memory full",
  gpu_side: "GPU side",
};

/** @param {StatsView} s */
function renderSlowdowns(s) {
  const slowdowns = s.slowdowns;
  el("slowdowns-empty").hidden = slowdowns.length > 0;
  const rows = slowdowns.slice(0, 10).map((d) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(new Date(d.at).toLocaleTimeString()),
      cell(d.model),
      cell(SLOWDOWN_CAUSES[d.cause] ?? d.cause, "cause"),
      cell(d.detail),
      cell(`${d.tps.toFixed(1)} tok/s`, "num"),
      cell(`${d.usualTps.toFixed(1)} tok/s`, "num"),
    );
    return tr;
  });
  el("slowdowns").replaceChildren(...rows);
}

/** @param {StatsView} s */
function renderEmpty(s) {
  const empty = s.sidecar.totals.requests === 0 && s.recent.length === 0 && s.background.total === 0;
  el("empty").hidden = !empty;
  const base = location.origin;
  set(
    "empty-commands",
    `Claude Code:  llama-sidecar claude   (or by hand: ANTHROPIC_BASE_URL=${base} ANTHROPIC_AUTH_TOKEN=local claude)\nOpenAI SDK / Cline / Cursor / Continue:  base URL ${base}/v1\ncurl:  curl ${base}/v1/chat/completions -H 'content-type: application/json' -d '{"messages":[{"role":"user","content":"hello"}]}'`,
  );
}

/** @type {Range} */
let range = "minutes";
/** @type {UPlot | undefined} */
let chart;
let lastRequests = -1;
let busy = false;

/** @param {HistoryPoint[]} points @returns {import("uplot").AlignedData} */
function chartData(points) {
  return [
    points.map((p) => p.t / 1000),
    points.map((p) => p.prompt),
    points.map((p) => p.cached),
    points.map((p) => p.generated),
  ];
}

/** @param {string} name */
function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

const SPAN_S = { minutes: 24 * 3600, hours: 30 * 24 * 3600 };

/** @param {import("uplot").AlignedData} data */
function makeChart(data) {
  const box = el("chart");
  const width = Math.max(280, box.clientWidth);
  /** @param {string} label @param {string} color @returns {import("uplot").Series} */
  const series = (label, color) => ({
    label,
    stroke: color,
    fill: `${color}22`,
    width: 1.5,
    value: (_u, /** @type {number | null} */ v) => (v == null ? dash : humanCount(v)),
  });
  // uPlot is loaded by its own script tag, ahead of this module.
  const UPlotClass = /** @type {typeof import("uplot")} */ (/** @type {any} */ (window).uPlot);
  chart = new UPlotClass(
    {
      width,
      height: 240,
      series: [
        {},
        series("prompt", css("--prompt")),
        series("cached", css("--cached")),
        series("generated", css("--generated")),
      ],
      axes: [
        { stroke: css("--muted") },
        { stroke: css("--muted"), values: (_u, /** @type {number[]} */ ticks) => ticks.map(humanCount) },
      ],
    },
    data,
    box,
  );
}

/** Where the sidecar's API key (when it has one) is kept: this tab's session only, never a cookie or disk. */
const KEY_SLOT = "llama-sidecar-api-key";

/** A signal that the sidecar wants its key: the page asks once, then goes on. */
class NeedsKey extends Error {}

/** GET one of the sidecar's /api endpoints, with the key this tab was given. */
/**
 * @template T
 * @param {string} path
 * @returns {Promise<T>}
 */
async function api(path) {
  const key = sessionStorage.getItem(KEY_SLOT);
  const res = await fetch(path, { cache: "no-store", headers: key ? { "x-api-key": key } : {} });
  if (res.status === 401) throw new NeedsKey();
  if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}`);
  return res.json();
}

function askForKey() {
  const form = el("key-form");
  if (!form.hidden) return;
  form.hidden = false;
  el("key-input").focus();
}

el("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ (el("key-input"));
  if (!input.value) return;
  sessionStorage.setItem(KEY_SLOT, input.value.trim());
  input.value = "";
  el("key-form").hidden = true;
  refreshStats().catch(() => {});
  refreshHistory().catch(() => {});
});

async function refreshHistory() {
  /** @type {HistoryView} */
  const h = await api("/api/history");
  const data = chartData(h[range]);
  if (chart) chart.setData(data);
  else makeChart(data);
  // The x axis always shows the whole window (24 hours or 30 days), however few points there are.
  const now = Date.now() / 1000;
  chart?.setScale("x", { min: now - SPAN_S[range], max: now });
}

async function refreshStats() {
  /** @type {StatsView} */
  const s = await api("/api/stats");
  renderHeader(s);
  renderCards(s);
  renderSlots(s);
  renderGpus(s.gpus);
  renderUpstreams(s);
  renderActive(s);
  busy = s.active.length > 0;
  renderMisses(s);
  renderSlowdowns(s);
  renderRecent(s);
  renderEmpty(s);
  set("updated", `updated ${new Date().toLocaleTimeString()}`);
  const requests = s.sidecar.totals.requests + s.background.total;
  if (requests !== lastRequests) {
    lastRequests = requests;
    await refreshHistory();
    await refreshSessions();
  }
  document.body.dataset.ready = "true";
}

/** @param {() => Promise<void>} fn @param {() => number} every */
function loop(fn, every) {
  const tick = async () => {
    try {
      await fn();
    } catch (err) {
      if (err instanceof NeedsKey) {
        askForKey();
        set("updated", "this sidecar needs its API key");
        document.body.dataset.ready = "true";
      } else set("updated", `cannot reach the sidecar (${err instanceof Error ? err.message : err}); retrying`);
    }
    setTimeout(tick, every());
  };
  tick();
}

for (const button of document.querySelectorAll("[data-range]")) {
  button.addEventListener("click", () => {
    range = /** @type {Range} */ (/** @type {HTMLElement} */ (button).dataset.range);
    for (const b of document.querySelectorAll("[data-range]")) b.setAttribute("aria-selected", String(b === button));
    refreshHistory();
  });
}
window.addEventListener("resize", () => chart?.setSize({ width: Math.max(280, el("chart").clientWidth), height: 240 }));

const refreshSessions = startSessions(api);
loop(refreshStats, () => (busy ? BUSY_STATS_EVERY_MS : STATS_EVERY_MS));
loop(refreshHistory, () => HISTORY_EVERY_MS);
