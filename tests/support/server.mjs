// A static file server for dist/ that records every request, so tests can assert on the network.
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".bin": "application/octet-stream",
  ".safetensors": "application/octet-stream",
};

export const DIST = resolve(import.meta.dirname, "..", "..", "dist");

/**
 * Serve `root` on a free port of 127.0.0.1, under the path `base` (a hosted site's sub-path; any
 * other path is 404). Resolves to { url, requests, sent, faults, setDown, close }: `url` ends with `base`,
 * `sent` lists `{ path, bytes }` of each body sent.
 *
 * `isolated`: every response carries COOP and COEP (same-origin, require-corp), as a host that
 * sends them (`_headers`, the nginx snippet): the page is cross-origin isolated and may start its
 * threaded CPU worker.
 *
 * `faults` injects failures the way a real network fails, below what the browser can see:
 * `faults.push({ path: "/x.bin", cut: 0.5 })` makes the next request of a path ending so send the
 * headers and half the body, then drop the connection (each fault is used once).
 */
export async function serveDist(root = DIST, { base = "/", isolated = false } = {}) {
  const isolation = isolated
    ? { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" }
    : {};
  const requests = [];
  const sent = [];
  const faults = [];
  const state = { down: false };
  const server = createServer(async (req, res) => {
    const full = decodeURIComponent(new URL(req.url, "http://x").pathname);
    requests.push(full);
    if (state.down) {
      req.socket.destroy();
      return;
    }
    if (!full.startsWith(base)) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${full}`);
      return;
    }
    const path = "/" + full.slice(base.length);
    const fault = faults.findIndex((fault) => path.endsWith(fault.path));
    const cut = fault >= 0 ? faults.splice(fault, 1)[0].cut : undefined;
    const file = normalize(join(root, path.endsWith("/") ? path + "index.html" : path));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error("not a file");
      const body = await readFile(file);
      // no-store: only the page's own Cache API may spare a download, never the HTTP cache.
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
        "cache-control": "no-store",
        ...isolation,
      });
      if (cut !== undefined) {
        res.write(body.subarray(0, Math.floor(body.length * cut)), () => setTimeout(() => res.destroy(), 50));
        return;
      }
      sent.push({ path: full, bytes: body.length });
      res.end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}`);
    }
  });
  await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${base}`,
    requests,
    sent,
    faults,
    /** Like a network gone: every connection is dropped unanswered (still recorded). */
    setDown: (down) => {
      state.down = down;
    },
    close: () => new Promise((done) => server.close(done)),
  };
}
