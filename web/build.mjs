// Builds the web UI: web/src/main.ts (+ CSS) → web/dist/{index.html,app.js,app.css}.
// Called by `npm run build` after the TypeScript check of web/ (web/tsconfig.json).
// Everything the page needs is bundled here: no CDN, nothing fetched at run time.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { URL, fileURLToPath } from "node:url";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
mkdirSync(here("dist"), { recursive: true });
await build({
  entryPoints: { app: here("src/main.ts") },
  outdir: here("dist"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync(here("index.html"), here("dist/index.html"));
