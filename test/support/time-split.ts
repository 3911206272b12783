// A session report's time split added up: what every test of the report checks against the wall time.
import type { TimeSplit } from "../../src/log/session-report.js";

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export const splitTotal = (t: TimeSplit): number =>
  t.queueMs +
  t.prefillMs +
  t.generationMs +
  t.unsplitMs +
  t.otherMs +
  t.personMs +
  t.gapMs +
  sum(t.toolMs) +
  sum(t.lostPrefillMs);
