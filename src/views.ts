// What the sidecar's own read endpoints and gauges show of its upstreams: each one's part, their forensics as one,
// and which upstream a finished request's scrape goes to.

import type { UpstreamFleet } from "./fleet/fleet.js";
import type { UpstreamUnit } from "./fleet/upstream-unit.js";
import type { RequestRecord } from "./record/request-record.js";
import type { UpstreamPart } from "./stats/views.js";

/** Every upstream as the views see it, the primary first. */
export function upstreamParts(fleet: UpstreamFleet): [UpstreamPart, ...UpstreamPart[]] {
  const part = (u: UpstreamUnit): UpstreamPart => ({
    name: u.name,
    model: u.model,
    url: u.upstream.url.href.replace(/\/$/, ""),
    status: u.monitor.status,
    scrape: u.scraper.view,
    queue: u.queueNumbers(),
    ledgerKey: u.scraper.ledgerKey,
    models: u.models(),
  });
  return [part(fleet.primary), ...fleet.units.filter((u) => u !== fleet.primary).map(part)];
}

/** Every upstream's forensics as one view: misses and slowdowns in the order they happened. */
export function forensicsView(fleet: UpstreamFleet) {
  const byTime = <T extends { at: number }>(lists: (readonly T[])[]) => lists.flat().sort((a, b) => a.at - b.at);
  return {
    cache: {
      recentMisses: byTime(fleet.units.map((u) => u.forensics.recentMisses)),
      conversationCount: fleet.units.reduce((n, u) => n + u.forensics.conversationCount, 0),
    },
    speed: { recent: byTime(fleet.units.map((u) => u.speed.recent)) },
  };
}

/** A finished request sets off a scrape of the upstream that served it, so its totals follow soon. */
export function scrapeAfter(fleet: UpstreamFleet): (r: RequestRecord) => void {
  return (r) => {
    const unit =
      fleet.units.find((u) => u.name === r.upstream && (u.model === undefined || u.model === r.upstreamModel)) ??
      fleet.primary;
    unit.scraper.requestSoon();
  };
}
