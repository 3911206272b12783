// A session's energy (watt-hours, tokens per joule, its cost at the user's price) and its draft acceptance, from the
// request log's rows, and the sentences the report says them in.
import { describe, expect, it } from "vitest";
import { gpuSentences, money, sessionDraft, sessionEnergy } from "../../../src/log/session-gpu.js";
import { logRow } from "../../support/records.js";

const row = logRow;

describe("a session's energy", () => {
  it("sums its requests' joules into watt-hours, and prices them per kWh where a price is set", () => {
    const rows = [row({ energyJ: 1800 }), row({ energyJ: 5400 }), row({})];
    expect(sessionEnergy(rows, 720, undefined)).toEqual({ wattHours: 2, generatedPerJoule: 0.1, cost: undefined });
    expect(sessionEnergy(rows, 720, { perKwh: 0.3, currency: "EUR" })?.cost).toEqual({
      amount: 0.0006,
      currency: "EUR",
    });
    expect(sessionEnergy([row({})], 10, undefined)).toBeUndefined();
  });

  it("writes a small amount with two significant digits", () => {
    expect(money(0.0006, "EUR")).toBe("EUR 0.00060");
    expect(money(0.012345, "USD")).toBe("USD 0.012");
    expect(money(3.456, "GBP")).toBe("GBP 3.46");
  });
});

describe("a session's draft acceptance", () => {
  it("is the accepted share of every drafted token, and absent where nothing was drafted", () => {
    const rows = [row({ draft: 30, draftAccepted: 30 }), row({ draft: 70, draftAccepted: 11 }), row({})];
    expect(sessionDraft(rows)).toEqual({ drafted: 100, accepted: 41, acceptance: 0.41 });
    expect(sessionDraft([row({})])).toBeUndefined();
  });

  it("is said beside the energy in the report's paragraph", () => {
    const energy = { wattHours: 2, generatedPerJoule: 0.1, cost: { amount: 0.0006, currency: "EUR" } };
    expect(gpuSentences(energy, { drafted: 100, accepted: 41, acceptance: 0.41 })).toBe(
      " The GPU drew 2.00 Wh for it, EUR 0.00060 (0.10 generated tokens per joule). The draft model's tokens were accepted 41% of the time (41 of 100).",
    );
    expect(gpuSentences(undefined, undefined)).toBe("");
  });
});
