import { describe, expect, it } from "vitest";
import { createStateGauges, EVENT_LOOP_SAMPLE_MS } from "../../../src/telemetry/state-gauges.js";

type Registry = ReturnType<typeof createStateGauges>["registry"];

/** The event loop's largest delay since the last read, as a scrape reads it (the lag gauge fills the others). */
async function lagMax(registry: Registry): Promise<number> {
  await registry.getSingleMetric("nodejs_eventloop_lag_seconds")?.get();
  const metric = await registry.getSingleMetric("nodejs_eventloop_lag_max_seconds")?.get();
  return metric?.values[0]?.value ?? 0;
}

/** Blocks the event loop for `ms`, as a long synchronous write would. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // blocked
  }
}

describe("the process's own gauges", () => {
  it("show an event-loop stall longer than the sampling period in the lag's maximum", async () => {
    const { registry } = createStateGauges();
    const stallMs = EVENT_LOOP_SAMPLE_MS * 3;
    // The sampler measures a delay from its previous sample, and a read starts it afresh: each try stalls twice
    // (the sample after the first is the one the second is measured from), turning the loop after each.
    const deadline = Date.now() + 10_000;
    let max = 0;
    while (max < (stallMs - EVENT_LOOP_SAMPLE_MS) / 1000 && Date.now() < deadline) {
      for (let i = 0; i < 2; i++) {
        stall(stallMs);
        await new Promise((resolve) => setImmediate(resolve));
      }
      max = Math.max(max, await lagMax(registry));
    }
    expect(max).toBeGreaterThanOrEqual((stallMs - EVENT_LOOP_SAMPLE_MS) / 1000);
  });
});
