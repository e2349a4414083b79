// The web UI's static files (web/dist, built by `npm run build`).
//
// Any GET that is not an API path and names no file gets index.html (the
// single-page app routes by the URL hash). Files are read once and kept in
// memory: the bundle is a few hundred kB. Headers forbid framing and any
// script or connection not from this origin (no CDN, nothing fetched from
// outside at run time).
import { existsSync, readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { extname, join, normalize, sep } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json; charset=utf-8",
};

export const UI_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
};

/** web/dist seen from src/api (tsx) or dist/src/api (compiled); null when not built. */
export function findWebDir(): string | null {
  for (const rel of ["../../web/dist", "../../../web/dist"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, "index.html"))) return dir;
  }
  return null;
}

const cache = new Map<string, Buffer | null>();

function load(file: string): Buffer | null {
  if (cache.has(file)) return cache.get(file)!;
  let b: Buffer | null = null;
  try {
    b = readFileSync(file);
  } catch {
    b = null;
  }
  if (cache.size < 200) cache.set(file, b);
  return b;
}

/** Serve `path` from `dir`; false when there is no such file (and the path names a file). */
export function serveStatic(dir: string, path: string, res: ServerResponse): boolean {
  let rel: string;
  try {
    rel = decodeURIComponent(path);
  } catch {
    return false;
  }
  if (rel === "/" || !extname(rel)) rel = "/index.html";
  const file = normalize(join(dir, rel));
  // No escaping the directory (.. or encoded separators).
  if (!file.startsWith(normalize(dir) + sep)) return false;
  const body = load(file);
  if (!body) return false;
  res.writeHead(200, {
    ...UI_HEADERS,
    "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
    "Content-Length": body.length,
    // Names are fixed (app.js), so the browser must revalidate; cheap on loopback or a LAN.
    "Cache-Control": "no-cache",
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
  return true;
}
