// Serves the dashboard page and its assets from memory: no CDN, the chart library comes from npm (uPlot).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Router, RouterContext } from "@koa/router";
import type { DashboardFile } from "../wire/own-paths.js";

const PUBLIC = fileURLToPath(new URL("./public/", import.meta.url));
const UPLOT = join(dirname(createRequire(import.meta.url).resolve("uplot")), "/");

const ASSETS: Record<DashboardFile, [path: string, type: string]> = {
  "": [join(PUBLIC, "index.html"), "text/html; charset=utf-8"],
  "app.js": [join(PUBLIC, "app.js"), "text/javascript; charset=utf-8"],
  "dom.js": [join(PUBLIC, "dom.js"), "text/javascript; charset=utf-8"],
  "format.js": [join(PUBLIC, "format.js"), "text/javascript; charset=utf-8"],
  "gpu.js": [join(PUBLIC, "gpu.js"), "text/javascript; charset=utf-8"],
  "sessions.js": [join(PUBLIC, "sessions.js"), "text/javascript; charset=utf-8"],
  "style.css": [join(PUBLIC, "style.css"), "text/css; charset=utf-8"],
  "uplot.js": [join(UPLOT, "uPlot.iife.min.js"), "text/javascript; charset=utf-8"],
  "uplot.css": [join(UPLOT, "uPlot.min.css"), "text/css; charset=utf-8"],
};

export function addDashboardRoutes(router: Router): void {
  const files = new Map(
    Object.entries(ASSETS).map(([name, [path, type]]) => [name, { body: readFileSync(path), type }]),
  );
  const send = (name: string) => (ctx: RouterContext) => {
    const file = files.get(name);
    if (!file) return;
    ctx.type = file.type;
    ctx.set("Cache-Control", "no-cache");
    ctx.body = file.body;
  };
  router.get("/dashboard", send(""));
  router.get("/dashboard/", send(""));
  for (const name of files.keys()) if (name) router.get(`/dashboard/${name}`, send(name));
}
