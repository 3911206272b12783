// The house's layers, held against the code's own imports: a request goes down the house and never climbs back.
// Each folder (and each file at the top of src/) has a floor; an import may go to a lower floor, or stay inside
// its own folder, never up and never sideways into another folder of the same floor.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(new URL("../../src/", import.meta.url).pathname);

/** Floors, lowest first. A place is a folder under src/ ("proxy") or a file at its top ("app.ts"). */
const FLOORS: string[][] = [
  ["errors.ts", "version.ts", "cancellation.ts", "undici-agent.ts", "config"],
  ["wire", "store", "logger.ts", "gpu"],
  ["observe", "admission", "guard", "dashboard", "forensics", "clients", "otlp"],
  ["telemetry", "upstream", "translate"],
  ["scrape", "claude"],
  ["record"],
  ["stats", "fleet", "log"],
  ["proxy"],
  ["views.ts", "own-paths-only.ts"],
  ["app.ts", "banner.ts"],
  ["server.ts"],
  ["main.ts"],
  ["cli.ts"],
];

const floorOf = new Map(FLOORS.flatMap((places, floor) => places.map((p): [string, number] => [p, floor])));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The place a file of src/ belongs to: its top folder, or itself at the top. */
function placeOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes("/") ? (rel.split("/")[0] as string) : rel;
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|import)\s+"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    resolve(dirname(file), (m[1] as string).replace(/\.js$/, ".ts")),
  );
}

describe("layers", () => {
  const files = sourceFiles(SRC);

  it("give every place in src/ a floor", () => {
    const places = new Set(files.map(placeOf));
    expect([...places].filter((p) => !floorOf.has(p))).toEqual([]);
  });

  it("import only down, or within their own folder: no arrow runs back up, no two folders import each other", () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = placeOf(file);
      for (const target of imports(file)) {
        const to = placeOf(target.endsWith(".ts") ? target : `${target}.ts`);
        if (to === from) continue;
        const up = (floorOf.get(to) ?? 99) >= (floorOf.get(from) ?? -1);
        if (up)
          wrong.push(
            `${relative(SRC, file)} -> ${relative(SRC, target)} (${from} floor ${floorOf.get(from)}, ${to} floor ${floorOf.get(to)})`,
          );
      }
    }
    expect(wrong).toEqual([]);
  });
});
