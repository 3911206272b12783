// Reads the shipped Grafana dashboard and Prometheus rules: their queries and the metric names they use.
import { readFileSync } from "node:fs";

const ROOT = new URL("../../", import.meta.url).pathname;
export const paths = {
  root: ROOT,
  dashboard: `${ROOT}grafana/dashboards/llama-sidecar.json`,
  rules: `${ROOT}deploy/prometheus/rules/llama-sidecar.yml`,
  ruleTests: `${ROOT}deploy/prometheus/tests/llama-sidecar.test.yml`,
  prometheus: `${ROOT}deploy/prometheus/prometheus.yml`,
  alertmanager: `${ROOT}deploy/alertmanager/alertmanager.yml`,
};

export interface PanelQuery {
  panel: string;
  expr: string;
}

interface Dashboard {
  panels: { title: string; targets: { expr: string }[]; datasource: { uid: string } }[];
  templating: { list: { name: string }[] };
}

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(paths.dashboard, "utf8")) as Dashboard;
}

export function panelQueries(): PanelQuery[] {
  return dashboard().panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
}

/** The `expr:` bodies of the rules file (folded or one-line), without a YAML parser. */
export function ruleExpressions(): string[] {
  const lines = readFileSync(paths.rules, "utf8").split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i] ?? "");
    if (!m) continue;
    if (m[2] && m[2] !== ">") {
      out.push(m[2]);
      continue;
    }
    const indent = (m[1] ?? "").length;
    const body: string[] = [];
    while (
      i + 1 < lines.length &&
      /^\s*$|^\s+/.test(lines[i + 1] ?? "") &&
      ((lines[i + 1] ?? "").search(/\S/) > indent || (lines[i + 1] ?? "").trim() === "")
    ) {
      i++;
      if (lines[i]?.trim()) body.push(lines[i]?.trim() ?? "");
    }
    out.push(body.join(" "));
  }
  return out;
}

/** Series names (not recording rules) a set of queries reads. */
export function metricNames(exprs: string[]): string[] {
  const names = new Set<string>();
  for (const e of exprs)
    for (const m of e.matchAll(/\b(llama_(?:sidecar|server)_[a-z0-9_]+)\b/g)) names.add(m[1] ?? "");
  return [...names].sort();
}

/** Grafana variables replaced the way Grafana would for "All" and a short range. */
export function resolveVariables(expr: string, rateInterval = "30s"): string {
  return expr
    .replaceAll("$instance", ".*")
    .replaceAll("$upstream", ".*")
    .replaceAll("$model", ".*")
    .replaceAll("$__range", "5m")
    .replaceAll("$__rate_interval", rateInterval);
}
