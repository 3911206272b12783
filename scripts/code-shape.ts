// Prints the shape of src/: files, lines, the longest file and the longest functions, for comparing two builds
// (run it in a checkout of each). Usage: node --import tsx scripts/code-shape.ts [root]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

const root = process.argv[2] ?? "src";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

interface Fn {
  where: string;
  lines: number;
}

/** Every function-like node with a body, its length in lines (the signature line to the closing brace). */
function functions(path: string, text: string): Fn[] {
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: Fn[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = "name" in node && node.name ? node.name.getText() : "(anonymous)";
      found.push({ where: `${relative(".", path)}:${start + 1} ${name}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const all = files(root).map((path) => {
  const text = readFileSync(path, "utf8");
  return { path: relative(".", path), lines: text.split("\n").length, fns: functions(path, text) };
});
const fns = all.flatMap((f) => f.fns).sort((a, b) => b.lines - a.lines);
const longest = [...all].sort((a, b) => b.lines - a.lines);
console.log(`files: ${all.length}, lines: ${all.reduce((n, f) => n + f.lines, 0)}`);
console.log(
  `longest file: ${longest[0]?.path} (${longest[0]?.lines} lines); over 300 lines: ${all.filter((f) => f.lines > 300).length}`,
);
console.log(`functions: ${fns.length}; over 40 lines: ${fns.filter((f) => f.lines > 40).length}`);
for (const f of fns.filter((f) => f.lines > 40)) console.log(`  ${f.lines} lines  ${f.where}`);
