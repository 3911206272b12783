// Which slot served a finished request, told from llama-server's /slots by the tokens each idle slot holds.
import { describe, expect, it } from "vitest";
import { readSlots, slotThatServed } from "../../../src/scrape/scraper.js";

// As llama-server (node-llama-cpp 3.22.1's bundle) writes /slots after two requests: a released slot's task numbers
// are cleared; n_prompt_tokens is what its cache holds (prompt_n + cache_n + predicted_n - 1).
const SLOTS = JSON.stringify([
  {
    id: 0,
    n_ctx: 4096,
    is_processing: false,
    id_task: 12,
    n_prompt_tokens: 319,
    n_prompt_tokens_processed: 0,
    n_prompt_tokens_cache: 0,
    next_token: [{ has_next_token: false, n_remain: -1, n_decoded: 0 }],
  },
  {
    id: 1,
    n_ctx: 4096,
    is_processing: false,
    id_task: 13,
    n_prompt_tokens: 507,
    n_prompt_tokens_processed: 0,
    n_prompt_tokens_cache: 0,
    next_token: [{ has_next_token: false, n_remain: -1, n_decoded: 0 }],
  },
]);

describe("slotThatServed", () => {
  it("finds the idle slot holding what the request left: its prompt and all but its last token", () => {
    const slots = readSlots(SLOTS);
    expect(slots[0]?.cachedAfter).toBe(319);
    expect(slotThatServed(slots, { prefill: 316, cached: 0, generated: 4 })).toBe(0);
    expect(slotThatServed(slots, { prefill: 8, cached: 492, generated: 8 })).toBe(1);
  });

  it("tells nothing when no slot or two slots match, or the slot is at work again", () => {
    const slots = readSlots(SLOTS);
    expect(slotThatServed(slots, { prefill: 1, cached: 0, generated: 8 })).toBeUndefined();
    const twice = readSlots(SLOTS).map((s) => ({ ...s, cachedAfter: 319 }));
    expect(slotThatServed(twice, { prefill: 316, cached: 0, generated: 4 })).toBeUndefined();
    const busy = readSlots(SLOTS).map((s) => ({ ...s, processing: true }));
    expect(slotThatServed(busy, { prefill: 316, cached: 0, generated: 4 })).toBeUndefined();
  });
});
