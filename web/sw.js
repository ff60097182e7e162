// The service worker that keeps a built site working offline after one visit.
//
// `cargo xtask site` writes the build's version and its files (with their SHA-256) into the two
// constants below; in a development build (`trunk serve`, `trunk build`) they stay empty and this
// worker only clears what an earlier site build left at the same origin, and answers no request
// (it installs no fetch handler, so the network is used as if it were not there).
//
// A site build's worker:
// - precaches every file of the page (HTML, JS, WebAssembly, CSS, the dataset index and
//   manifests, weights.json), each checked against its SHA-256, into a cache named after the
//   build: a file that changed during the download fails the install, which is tried again on the
//   next visit, so one build's cache never holds another build's files;
// - but the threaded CPU worker's files (`worker-threads*`, its thread pool's script), which only a
//   cross-origin isolated page without WebGPU starts: fetched the first time one asks for them,
//   checked against the same SHA-256 and kept in the build's cache then (a file of another build
//   is refused, and the page goes on with its single-threaded worker);
// - puts the pretrained weights into the engine's own cache (the one it fills with verified
//   shards and weights, keyed by URL and SHA-256), unless already there: one copy, which the engine
//   checks again when it reads it;
// - answers the page's requests from its build's cache, so every file of one visit comes from the
//   same build; the shards and weights are the engine's, which reads its cache before the network;
// - gives every response it answers the COOP and COEP headers (same-origin, require-corp), so on a
//   host that cannot send them (GitHub Pages) the page is cross-origin isolated from the second
//   visit on, and may train on the CPU with a thread per core (the threaded worker);
// - a new deployment has a new version, so the browser installs its worker beside the old one
//   and switches on the next visit (when no tab of the old one is open); the old cache goes then.
const VERSION = "";
const FILES = [];

const SHELL_PREFIX = "tripletlab-shell-";
const SHELL = SHELL_PREFIX + VERSION;
// The engine's cache (crates/engine/src/cache.rs): keep the name in step.
const DATA = "tripletlab-data-v1";
const WEIGHTS_MANIFEST = "public/weights/weights.json";

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (buffer) => hex(await crypto.subtle.digest("SHA-256", buffer));
const at = (path) => new URL(path, self.registration.scope).href;

// The browser's HTTP cache first (the page has usually just fetched the file: no second
// download), then the server itself when that copy is not this build's.
async function fetchVerified(path, expected) {
  let found = "";
  for (const cache of ["default", "reload"]) {
    const response = await fetch(at(path), { cache });
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    const body = await response.arrayBuffer();
    found = await sha256(body);
    if (found === expected) {
      return new Response(body, { headers: { "content-type": response.headers.get("content-type") ?? "" } });
    }
  }
  throw new Error(`${path} is not this build's (SHA-256 ${found}, expected ${expected}): a deployment changed it`);
}

// Kept when first asked for, not at install (see above). The threaded worker's first script is
// precached (it is small): offline it runs, and tells the page that the rest cannot be had.
const ON_DEMAND = ["worker-threads.js", "worker-threads_bg.wasm", "snippets/wasm-bindgen-rayon-"];
const onDemand = (path) => ON_DEMAND.some((prefix) => path.startsWith(prefix));

async function precache() {
  const cache = await caches.open(SHELL);
  for (const [path, expected] of FILES) {
    if (onDemand(path) || (await cache.match(at(path)))) continue;
    await cache.put(at(path), await fetchVerified(path, expected));
  }
  // The page's own address, for a visit that opens the folder rather than index.html.
  const index = await cache.match(at("index.html"));
  if (index) await cache.put(at("./"), index);

  const manifest = await (await cache.match(at(WEIGHTS_MANIFEST)))?.json();
  if (manifest?.file && manifest?.sha256) {
    const url = at(`public/weights/${manifest.file}`);
    const data = await caches.open(DATA);
    if (!(await data.match(url))) {
      const weights = await fetchVerified(`public/weights/${manifest.file}`, manifest.sha256);
      await data.put(`${url}#sha256=${manifest.sha256}`, weights);
    }
  }
}

// Cross-origin isolation, as a host that sends these headers gives it (`_headers`, nginx).
const ISOLATION = [
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Cross-Origin-Embedder-Policy", "require-corp"],
];

function isolated(response) {
  // An opaque or error response cannot be rebuilt; the page's are all same-origin.
  if (response.status === 0) return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of ISOLATION) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// A file this build lists, from the build's cache; one kept on demand is fetched, checked and
// kept the first time.
async function fromBuild(request) {
  const cache = await caches.open(SHELL);
  const cached = await cache.match(request, { ignoreSearch: true });
  if (cached) return cached;
  const path = new URL(request.url).pathname.slice(new URL(self.registration.scope).pathname.length);
  const listed = FILES.find(([file]) => file === path);
  if (!listed || !onDemand(path)) return fetch(request);
  try {
    const response = await fetchVerified(path, listed[1]);
    await cache.put(at(path), response.clone());
    return response;
  } catch {
    // Offline, or another build's file: the threaded worker fails to start and says so, and the
    // page goes on with its single-threaded worker.
    return Response.error();
  }
}

async function dropOtherBuilds() {
  for (const name of await caches.keys()) {
    if (name.startsWith(SHELL_PREFIX) && name !== SHELL) await caches.delete(name);
  }
}

if (VERSION) {
  self.addEventListener("install", (event) => event.waitUntil(precache()));
  self.addEventListener("activate", (event) => event.waitUntil(dropOtherBuilds().then(() => self.clients.claim())));
  self.addEventListener("fetch", (event) => {
    const request = event.request;
    if (request.method !== "GET" || !request.url.startsWith(self.registration.scope)) return;
    event.respondWith(fromBuild(request).then(isolated));
  });
} else {
  // A development build: take over from any site build's worker at once and leave no cache of it.
  self.addEventListener("install", () => self.skipWaiting());
  self.addEventListener("activate", (event) =>
    event.waitUntil(
      caches
        .keys()
        .then((names) => Promise.all(names.filter((n) => n.startsWith(SHELL_PREFIX)).map((n) => caches.delete(n))))
        .then(() => self.clients.claim()),
    ),
  );
}
