// Prints the top frames of V8 CPU profiles (bench/overhead.ts with BENCH_PROFILE=dir): self time by function, and
// inclusive time of the sidecar's own functions, per profile. Usage: node --import tsx bench/profile-top.ts FILE...
import { readFileSync } from "node:fs";
import { basename } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

const TOP = Number(process.env.TOP ?? 15);

/** A frame's name: the function and where it is, the path cut to what follows node_modules/ or dist/. */
function frameName({ functionName, url, lineNumber }: ProfileNode["callFrame"]): string {
  const where = url.replace(/^.*\/(node_modules|dist)\//, "$1/").replace(/^file:\/\//, "");
  return `${functionName || "(anonymous)"} ${where ? `${where}:${lineNumber + 1}` : ""}`.trim();
}

function report(file: string): void {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  for (const n of p.nodes)
    self.set(frameName(n.callFrame), (self.get(frameName(n.callFrame)) ?? 0) + (n.hitCount ?? 0));
  // Inclusive time of the sidecar's own functions, each counted once per stack (recursion does not double it).
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const n = byId.get(id) as ProfileNode;
    const name = frameName(n.callFrame);
    const fresh = n.callFrame.url.includes("/dist/") && !onStack.has(name);
    if (fresh) onStack.add(name);
    let hits = n.hitCount ?? 0;
    for (const c of n.children ?? []) hits += walk(c, onStack);
    if (fresh) {
      onStack.delete(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + hits);
    }
    return hits;
  };
  const total = walk(p.nodes[0]?.id ?? 1, new Set());
  const idle = self.get("(idle)") ?? 0;
  const busy = total - idle;
  const line = ([name, hits]: [string, number]) =>
    `  ${((hits * msPerSample) | 0).toString().padStart(6)} ms  ${((100 * hits) / busy).toFixed(1).padStart(5)}%  ${name}`;
  const top = (m: Map<string, number>) =>
    [...m]
      .filter(([n]) => n !== "(idle)")
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(line);
  console.log(
    `\n${basename(file)}: ${(busy * msPerSample).toFixed(0)} ms busy of ${(total * msPerSample).toFixed(0)} ms`,
  );
  console.log(" self time:");
  console.log(top(self).join("\n"));
  console.log(" the sidecar's own functions, inclusive:");
  console.log(top(inclusive).join("\n"));
}

for (const file of process.argv.slice(2)) report(file);
