// @ts-check
// The GPU tile: each GPU where llama-server runs, as the sidecar last read it: a memory bar (other processes' share
// marked), utilisation, watts against the limit, temperature, and a badge while its clocks are held down.
import { el, make } from "./dom.js";

/** @typedef {import("../../gpu/reading.js").GpuReading} GpuReading */

const GIB = 1024 ** 3;
const gib = (/** @type {number | undefined} */ b) => (b === undefined ? "–" : `${(b / GIB).toFixed(1)} GiB`);

/** One GPU's row. */
function gpuRow(/** @type {GpuReading} */ g) {
  const row = make("div", "gpu-row");
  row.dataset.gpu = g.gpu;
  row.append(make("span", "gpu-name", `${g.gpu} · ${g.name ?? "GPU"}`));
  const bar = make("div", "mem-bar");
  const total = g.memoryTotalBytes ?? 0;
  const share = (/** @type {number | undefined} */ b) => `${total > 0 ? Math.min(100, ((b ?? 0) / total) * 100) : 0}%`;
  const ours = make("span", "mem-used");
  ours.style.width = share((g.memoryUsedBytes ?? 0) - (g.foreignMemoryBytes ?? 0));
  const theirs = make("span", "mem-foreign");
  theirs.style.width = share(g.foreignMemoryBytes);
  bar.append(ours, theirs);
  bar.title = `memory ${gib(g.memoryUsedBytes)} of ${gib(g.memoryTotalBytes)}${g.foreignMemoryBytes ? `, ${gib(g.foreignMemoryBytes)} of it another process's` : ""}`;
  row.append(bar, make("span", "muted", `${gib(g.memoryUsedBytes)} / ${gib(g.memoryTotalBytes)}`));
  const watts =
    g.powerWatts === undefined
      ? "– W"
      : `${Math.round(g.powerWatts)}${g.powerLimitWatts ? ` / ${Math.round(g.powerLimitWatts)}` : ""} W`;
  row.append(
    make("span", "num", g.utilization === undefined ? "–" : `${Math.round(g.utilization * 100)}%`),
    make("span", "num", watts),
    make("span", "num", g.temperatureC === undefined ? "– °C" : `${Math.round(g.temperatureC)} °C`),
  );
  const badge = make("span", g.throttled.length ? "badge throttled" : "badge", g.throttled.length ? "throttled" : "");
  if (g.throttled.length) badge.title = g.throttled.join(", ");
  row.append(badge);
  return row;
}

/** Shows the tile where the sidecar reads a GPU; hides it where it reads none. */
export function renderGpus(/** @type {readonly GpuReading[]} */ gpus) {
  const card = el("gpu-card");
  card.hidden = gpus.length === 0;
  el("gpus").replaceChildren(...gpus.map(gpuRow));
}
