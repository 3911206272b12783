// Generates a small random-weight llama GGUF that llama-server can serve, for tests and demos.
//
// Random weights would happily sample control tokens, lone UTF-8 bytes and EOS, which makes long
// generations fail (invalid UTF-8 -> HTTP 500) or stop early. So the residual stream carries a
// constant "bias" dimension that no layer writes to, and the output projection gives every token
// we never want sampled a large negative weight on it: the model only ever emits printable ASCII.
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { type MetaValue, type Tensor, ValueType, writeGguf } from "./gguf/writer.js";

/** Bump when the generated model changes, so cached copies are rebuilt. */
const MODEL_GENERATOR_VERSION = 2;

export interface ModelShape {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nFf: number;
  nCtxTrain: number;
}

const TINY: ModelShape = { nEmbd: 256, nLayer: 4, nHead: 4, nFf: 768, nCtxTrain: 32768 };

/**
 * Qwen2.5's ChatML template with Hermes-style tools, so llama-server recognises <tool_call> output and can
 * constrain a forced tool call (tool_choice "required") with a grammar.
 */
const CHAT_TEMPLATE = [
  "{%- if tools %}",
  "{{- '<|im_start|>system\\n' }}",
  "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}",
  `{{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}`,
  '{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}',
  `{{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}`,
  "{%- else %}",
  "{%- if messages[0].role == 'system' %}{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}{%- endif %}",
  "{%- endif %}",
  "{%- for message in messages %}",
  '{%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}',
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}",
  '{%- elif message.role == "assistant" %}',
  "{{- '<|im_start|>' + message.role }}",
  "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}",
  "{%- for tool_call in message.tool_calls %}",
  "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}",
  `{{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}`,
  "{%- endfor %}",
  "{{- '<|im_end|>\\n' }}",
  '{%- elif message.role == "tool" %}',
  `{%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}`,
  "{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}",
  `{%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}`,
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join("");

const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const BIGRAMS =
  "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur".split(
    " ",
  );

/** GPT-2's reversible byte -> printable unicode mapping, which byte-level BPE vocabularies use. */
function byteToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = keep.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return table;
}

interface Vocab {
  tokens: string[];
  types: number[];
  merges: string[];
  /** true where the model may sample the token. */
  allowed: boolean[];
}

function buildVocab(): Vocab {
  const b2u = byteToUnicode();
  const tokens: string[] = [];
  const types: number[] = [];
  const allowed: boolean[] = [];
  for (let b = 0; b < 256; b++) {
    tokens.push(b2u[b] as string);
    types.push(1);
    // Printable ASCII and newline only: never a lone byte of a multi-byte character.
    allowed.push((b >= 0x20 && b <= 0x7e) || b === 0x0a);
  }
  const merges: string[] = [];
  const space = b2u[0x20] as string;
  for (const bg of BIGRAMS) {
    merges.push(`${bg[0]} ${bg[1]}`);
    tokens.push(bg);
    types.push(1);
    allowed.push(true);
  }
  for (const bg of BIGRAMS) {
    merges.push(`${space} ${bg}`);
    tokens.push(space + bg);
    types.push(1);
    allowed.push(true);
  }
  for (const s of SPECIALS) {
    tokens.push(s);
    types.push(3); // CONTROL
    allowed.push(false);
  }
  return { tokens, types, merges, allowed };
}

/** Deterministic PRNG (mulberry32) with Box-Muller normals, so the same seed gives the same file. */
function normalSource(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

function matrix(rows: number, cols: number, std: number, rand: () => number): Float32Array {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = rand() * std;
  return m;
}

/** Zeroes output row 0 so this layer never writes to the constant bias dimension. */
function sparingBias(m: Float32Array, cols: number): Float32Array {
  m.fill(0, 0, cols);
  return m;
}

function ones(n: number): Float32Array {
  return new Float32Array(n).fill(1);
}

function buildTensors(shape: ModelShape, vocab: Vocab, rand: () => number): Tensor[] {
  const { nEmbd: e, nFf: f, nLayer } = shape;
  const nVocab = vocab.tokens.length;
  const embd = matrix(nVocab, e, 0.5, rand);
  for (let v = 0; v < nVocab; v++) embd[v * e] = 4; // the constant bias dimension
  const out = matrix(nVocab, e, 0.1, rand);
  for (let v = 0; v < nVocab; v++) out[v * e] = vocab.allowed[v] ? 0 : -20;
  const tensors: Tensor[] = [
    { name: "token_embd.weight", dims: [e, nVocab], data: embd },
    { name: "output_norm.weight", dims: [e], data: ones(e) },
    { name: "output.weight", dims: [e, nVocab], data: out },
  ];
  const std = 1 / Math.sqrt(e);
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}`;
    tensors.push(
      { name: `${p}.attn_norm.weight`, dims: [e], data: ones(e) },
      { name: `${p}.attn_q.weight`, dims: [e, e], data: matrix(e, e, std, rand) },
      { name: `${p}.attn_k.weight`, dims: [e, e], data: matrix(e, e, std, rand) },
      { name: `${p}.attn_v.weight`, dims: [e, e], data: matrix(e, e, std, rand) },
      { name: `${p}.attn_output.weight`, dims: [e, e], data: sparingBias(matrix(e, e, std, rand), e) },
      { name: `${p}.ffn_norm.weight`, dims: [e], data: ones(e) },
      { name: `${p}.ffn_gate.weight`, dims: [e, f], data: matrix(f, e, std, rand) },
      { name: `${p}.ffn_up.weight`, dims: [e, f], data: matrix(f, e, std, rand) },
      { name: `${p}.ffn_down.weight`, dims: [f, e], data: sparingBias(matrix(e, f, 1 / Math.sqrt(f), rand), f) },
    );
  }
  return tensors;
}

function buildMeta(shape: ModelShape, vocab: Vocab): Record<string, MetaValue> {
  const u32 = (value: number): MetaValue => ({ type: ValueType.UINT32, value });
  const eos = vocab.tokens.indexOf("<|endoftext|>");
  return {
    "general.architecture": { type: ValueType.STRING, value: "llama" },
    "general.name": { type: ValueType.STRING, value: "sidecar-tiny-random" },
    "general.alignment": u32(32),
    "llama.context_length": u32(shape.nCtxTrain),
    "llama.embedding_length": u32(shape.nEmbd),
    "llama.block_count": u32(shape.nLayer),
    "llama.feed_forward_length": u32(shape.nFf),
    "llama.attention.head_count": u32(shape.nHead),
    "llama.attention.head_count_kv": u32(shape.nHead),
    "llama.rope.dimension_count": u32(shape.nEmbd / shape.nHead),
    "llama.attention.layer_norm_rms_epsilon": { type: ValueType.FLOAT32, value: 1e-5 },
    "tokenizer.ggml.model": { type: ValueType.STRING, value: "gpt2" },
    "tokenizer.ggml.pre": { type: ValueType.STRING, value: "default" },
    "tokenizer.ggml.tokens": { type: ValueType.ARRAY, itemType: ValueType.STRING, value: vocab.tokens },
    "tokenizer.ggml.token_type": { type: ValueType.ARRAY, itemType: ValueType.INT32, value: vocab.types },
    "tokenizer.ggml.merges": { type: ValueType.ARRAY, itemType: ValueType.STRING, value: vocab.merges },
    "tokenizer.ggml.bos_token_id": u32(eos),
    "tokenizer.ggml.eos_token_id": u32(eos),
    "tokenizer.ggml.add_bos_token": { type: ValueType.BOOL, value: false },
    "tokenizer.chat_template": { type: ValueType.STRING, value: CHAT_TEMPLATE },
  };
}

function defaultModelPath(): string {
  const root =
    process.env.LLAMA_SIDECAR_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "llama-sidecar");
  return join(root, "models", `tiny-random-v${MODEL_GENERATOR_VERSION}.gguf`);
}

/** Writes the model unless it is already cached; returns its path. */
export function ensureTinyModel(path = defaultModelPath(), shape = TINY, seed = 42): string {
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const vocab = buildVocab();
  writeGguf(path, buildMeta(shape, vocab), buildTensors(shape, vocab, normalSource(seed)));
  return path;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(ensureTinyModel(process.argv[2]));
}
