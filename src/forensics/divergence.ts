// Where a prompt parts from an earlier one of its conversation: compared block by block in template order, and
// inside the first changed block chunk by chunk, from the earlier prompt's hashes and the new prompt's text.
import { chunkHashes, type Prompt, type PromptPrint, type TextBlock } from "./fingerprint.js";

export type Divergence =
  /** The new prompt starts with the whole earlier one: a warm cache keeps all of it. */
  | { kind: "extends"; commonChars: number }
  /** A block of the earlier prompt is changed, gone, or has a new one before it. */
  | { kind: "changed" | "removed" | "inserted"; path: string; commonChars: number; at?: [from: number, to: number] }
  /** The new prompt is the earlier one cut short: history truncated or compacted. */
  | { kind: "truncated"; path: string; commonChars: number };

/** The character range of block b's first chunk that `text` does not repeat, by the earlier prompt's chunks. */
function firstChangedChunk(prev: PromptPrint, b: number, text: string): [number, number] {
  const size = prev.chunkSize(b);
  const before = prev.chunks(b);
  const next = chunkHashes(text, size);
  let i = 0;
  while (i < before.length && i < next.length && before[i] === next[i]) i++;
  const from = i * size;
  return [from, Math.max(from, Math.min(Math.max(prev.length(b), text.length), from + size) - 1)];
}

function isTool(path: string): boolean {
  return path.startsWith("tools[");
}

/** The change at block i, named the way a person would say it: a tool added or removed, a block edited. */
function changeAt(prev: PromptPrint, next: readonly TextBlock[], i: number, commonChars: number): Divergence {
  const path = prev.paths[i];
  const after = next[i];
  if (path === undefined) return { kind: "extends", commonChars };
  if (!after) return { kind: "truncated", path, commonChars };
  if (path !== after.path) {
    // A tool list differs by name: a new one in the new list, or one the new list lacks.
    const inserted = !prev.paths.includes(after.path) && (isTool(after.path) || !isTool(path));
    return inserted ? { kind: "inserted", path: after.path, commonChars } : { kind: "removed", path, commonChars };
  }
  const at = firstChangedChunk(prev, i, after.text);
  return { kind: "changed", path, commonChars: commonChars + at[0], at };
}

/** Compares a prompt with the print of an earlier one: by the two prints' hashes, the text read only where they part. */
export function divergence(prev: PromptPrint, next: Prompt): Divergence {
  let commonChars = 0;
  for (let i = 0; i < prev.size; i++) {
    const same =
      i < next.print.size &&
      next.print.paths[i] === prev.paths[i] &&
      next.print.length(i) === prev.length(i) &&
      next.print.hash(i) === prev.hash(i);
    if (!same) return changeAt(prev, next.blocks, i, commonChars);
    commonChars += prev.length(i);
  }
  return { kind: "extends", commonChars };
}

/** Blocks the two prompts share from their start: how alike two prompts are, for matching a conversation. */
export function sharedBlocks(a: PromptPrint, b: PromptPrint): number {
  let i = 0;
  while (i < a.size && i < b.size && a.hash(i) === b.hash(i)) i++;
  return i;
}
