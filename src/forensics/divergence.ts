// Where a prompt parts from an earlier one of its conversation: compared block by block in template order, and
// inside the first changed block chunk by chunk, from the earlier prompt's hashes and the new prompt's text.
import { type BlockPrint, chunkHashes, hashText, type PromptPrint, type TextBlock } from "./fingerprint.js";

export type Divergence =
  /** The new prompt starts with the whole earlier one: a warm cache keeps all of it. */
  | { kind: "extends"; commonChars: number }
  /** A block of the earlier prompt is changed, gone, or has a new one before it. */
  | { kind: "changed" | "removed" | "inserted"; path: string; commonChars: number; at?: [from: number, to: number] }
  /** The new prompt is the earlier one cut short: history truncated or compacted. */
  | { kind: "truncated"; path: string; commonChars: number };

/** The character range of the first chunk of `prev` that `text` does not repeat, by the earlier prompt's chunks. */
function firstChangedChunk(prev: BlockPrint, text: string): [number, number] {
  const next = chunkHashes(text, prev.chunkSize);
  let i = 0;
  while (i < prev.chunks.length && i < next.length && prev.chunks[i] === next[i]) i++;
  const from = i * prev.chunkSize;
  return [from, Math.max(from, Math.min(Math.max(prev.length, text.length), from + prev.chunkSize) - 1)];
}

function isTool(path: string): boolean {
  return path.startsWith("tools[");
}

/** The change at block i, named the way a person would say it: a tool added or removed, a block edited. */
function changeAt(prev: PromptPrint, next: readonly TextBlock[], i: number, commonChars: number): Divergence {
  const before = prev.blocks[i];
  const after = next[i];
  if (!before) return { kind: "extends", commonChars };
  if (!after) return { kind: "truncated", path: before.path, commonChars };
  if (before.path !== after.path) {
    // A tool list differs by name: a new one in the new list, or one the new list lacks.
    const inserted = !prev.blocks.some((b) => b.path === after.path) && (isTool(after.path) || !isTool(before.path));
    return inserted
      ? { kind: "inserted", path: after.path, commonChars }
      : { kind: "removed", path: before.path, commonChars };
  }
  const at = firstChangedChunk(before, after.text);
  return { kind: "changed", path: before.path, commonChars: commonChars + at[0], at };
}

/** Compares a prompt with the print of an earlier one. */
export function divergence(prev: PromptPrint, next: readonly TextBlock[]): Divergence {
  let commonChars = 0;
  for (let i = 0; i < prev.blocks.length; i++) {
    const before = prev.blocks[i] as BlockPrint;
    const after = next[i];
    if (
      !after ||
      after.path !== before.path ||
      after.text.length !== before.length ||
      hashText(after.text) !== before.hash
    ) {
      return changeAt(prev, next, i, commonChars);
    }
    commonChars += before.length;
  }
  return { kind: "extends", commonChars };
}

/** Blocks the two prompts share from their start: how alike two prompts are, for matching a conversation. */
export function sharedBlocks(a: PromptPrint, b: PromptPrint): number {
  let i = 0;
  while (i < a.blocks.length && i < b.blocks.length && a.blocks[i]?.hash === b.blocks[i]?.hash) i++;
  return i;
}
