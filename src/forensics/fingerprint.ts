// Structural fingerprints of prompts: one hash per block (a system part, a tool, a message's content block) and a
// bounded number of chunk hashes inside the blocks, enough to locate where two prompts part without keeping a
// character of their text.
import type { Dialect } from "../wire/dialect.js";
import { asObject, asString, type JsonObject } from "../wire/json.js";

/** A piece of the prompt as llama-server's chat template lays it out: system first, then tools, then messages. */
export interface TextBlock {
  /** Where it is in the request: `system[1]`, `tools[mcp__github__search]`, `messages[7].content[0]`. */
  path: string;
  text: string;
  /** A system block or a tool: the preamble every conversation of one agent shares. */
  preamble?: true;
}

/** Chunk hashes kept per prompt, over all its blocks: 4 KB whatever the prompt's length. */
export const CHUNK_BUDGET = 1024;
const MIN_CHUNK = 16;

/** FNV-1a over UTF-16 code units: fast, and 32 bits are plenty to tell two versions of one block apart. */
export function hashText(text: string, from = 0, to = text.length): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function chunkHashes(text: string, chunkSize: number): Uint32Array {
  const out = new Uint32Array(Math.ceil(text.length / chunkSize));
  for (let i = 0; i < out.length; i++)
    out[i] = hashText(text, i * chunkSize, Math.min(text.length, (i + 1) * chunkSize));
  return out;
}

/** A prompt being judged: its blocks (their text, for locating a change) and its print (their hashes). */
export interface Prompt {
  blocks: readonly TextBlock[];
  print: PromptPrint;
}

/**
 * Block paths repeat across prompts and conversations ("messages[3].content[0]"): one copy of each is shared.
 * Bounded: past the limit the table starts again, and prints keep the copies they hold.
 */
const PATHS = new Map<string, string>();
const PATHS_LIMIT = 50_000;

function intern(path: string): string {
  const known = PATHS.get(path);
  if (known !== undefined) return known;
  if (PATHS.size >= PATHS_LIMIT) PATHS.clear();
  PATHS.set(path, path);
  return path;
}

/**
 * A prompt's print in one typed array, a few KB whatever the prompt: per block its hash, length, chunk size and
 * where its chunk hashes start, then the chunk hashes of every block.
 */
export class PromptPrint {
  private constructor(
    readonly paths: readonly string[],
    private readonly data: Uint32Array,
    /** Characters in the whole prompt. */
    readonly chars: number,
    /** Leading blocks that are preamble (system, tools): what two conversations of one agent share. */
    readonly preamble: number,
  ) {}

  /** Prints the blocks, sharing the chunk budget among them by length. */
  static of(blocks: readonly TextBlock[]): PromptPrint {
    const n = blocks.length;
    const chars = blocks.reduce((sum, b) => sum + b.text.length, 0);
    const perChar = CHUNK_BUDGET / Math.max(1, chars);
    const sizes = blocks.map((b) =>
      Math.max(MIN_CHUNK, Math.ceil(b.text.length / Math.max(1, Math.floor(b.text.length * perChar)))),
    );
    const counts = blocks.map((b, i) => Math.ceil(b.text.length / (sizes[i] as number)));
    const data = new Uint32Array(4 * n + 1 + counts.reduce((sum, c) => sum + c, 0));
    let at = 4 * n + 1;
    blocks.forEach((b, i) => {
      data[i] = hashText(b.text);
      data[n + i] = b.text.length;
      data[2 * n + i] = sizes[i] as number;
      data[3 * n + i] = at;
      data.set(chunkHashes(b.text, sizes[i] as number), at);
      at += counts[i] as number;
    });
    data[4 * n] = at;
    const preamble = blocks.findIndex((b) => !b.preamble);
    return new PromptPrint(
      blocks.map((b) => intern(b.path)),
      data,
      chars,
      preamble < 0 ? n : preamble,
    );
  }

  get size(): number {
    return this.paths.length;
  }

  hash(i: number): number | undefined {
    return i < this.size ? this.data[i] : undefined;
  }

  length(i: number): number {
    return this.data[this.size + i] ?? 0;
  }

  chunkSize(i: number): number {
    return this.data[2 * this.size + i] ?? MIN_CHUNK;
  }

  chunks(i: number): Uint32Array {
    const n = this.size;
    return this.data.subarray(this.data[3 * n + i] ?? 0, this.data[3 * n + i + 1] ?? 0);
  }

  /** Chunk hashes held, over all blocks. */
  get chunkCount(): number {
    return this.data.length - 4 * this.size - 1;
  }

  /** Bytes this print holds, for its memory budget. */
  get bytes(): number {
    return this.data.byteLength + 8 * this.size;
  }
}

/**
 * JSON as the chat template sees it: Anthropic's cache_control markers move from turn to turn (Claude Code puts one
 * on the newest message) and never reach the prompt, so they are left out.
 */
function templateJson(value: unknown): string {
  return JSON.stringify(value ?? "", (key, v) => (key === "cache_control" ? undefined : v));
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  const block = asObject(content);
  // A text block is its text; any other block (images, tool calls and results) is its whole JSON.
  return block && typeof block.text === "string" && block.type === "text" ? block.text : templateJson(content);
}

function contentBlocks(path: string, content: unknown): TextBlock[] {
  if (!Array.isArray(content)) return [{ path, text: textOf(content) }];
  return content.map((part, j) => ({ path: `${path}.content[${j}]`, text: textOf(part) }));
}

function toolName(tool: unknown, i: number): string {
  const t = asObject(tool) ?? {};
  return asString(t.name) ?? asString(asObject(t.function)?.name) ?? String(i);
}

function toolBlocks(body: JsonObject): TextBlock[] {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  return tools.map((tool, i) => ({ path: `tools[${toolName(tool, i)}]`, text: templateJson(tool), preamble: true }));
}

function anthropicBlocks(body: JsonObject): TextBlock[] {
  const system = body.system;
  const out: TextBlock[] =
    system === undefined
      ? []
      : Array.isArray(system)
        ? system.map((part, i): TextBlock => ({ path: `system[${i}]`, text: textOf(part), preamble: true }))
        : [{ path: "system", text: textOf(system), preamble: true }];
  out.push(...toolBlocks(body));
  const messages = Array.isArray(body.messages) ? body.messages : [];
  messages.forEach((m, i) => {
    out.push(...contentBlocks(`messages[${i}]`, asObject(m)?.content));
  });
  return out;
}

function openaiBlocks(body: JsonObject): TextBlock[] {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const system: TextBlock[] = [];
  const rest: TextBlock[] = [];
  messages.forEach((m, i) => {
    const msg = asObject(m) ?? {};
    const role = msg.role;
    const blocks = contentBlocks(`messages[${i}]`, msg.content);
    if (msg.tool_calls !== undefined)
      blocks.push({ path: `messages[${i}].tool_calls`, text: templateJson(msg.tool_calls) });
    if (role === "system" || role === "developer")
      system.push(...blocks.map((b): TextBlock => ({ ...b, preamble: true })));
    else rest.push(...blocks);
  });
  return [...system, ...toolBlocks(body), ...rest];
}

/**
 * The request's thinking settings, which the chat template renders into the prompt (Anthropic's `thinking`,
 * OpenAI's `reasoning_effort`, llama-server's `chat_template_kwargs`), as one hash: a change re-processes the prompt
 * though no block of the request changed.
 */
export function settingsHash(body: JsonObject): number {
  const kwargs = asObject(body.chat_template_kwargs);
  return hashText(
    JSON.stringify([
      body.thinking ?? null,
      body.reasoning_effort ?? null,
      kwargs?.enable_thinking ?? null,
      kwargs?.reasoning_effort ?? null,
    ]),
  );
}

/** The prompt's blocks in template order, for the dialects that carry a conversation; undefined for the rest. */
export function promptBlocks(dialect: Dialect, body: JsonObject): TextBlock[] | undefined {
  switch (dialect) {
    case "anthropic-messages":
      return anthropicBlocks(body);
    case "openai-chat":
      return openaiBlocks(body);
    case "openai-completion":
    case "llama-completion":
      return typeof body.prompt === "string" ? [{ path: "prompt", text: body.prompt }] : undefined;
    default:
      return undefined;
  }
}
