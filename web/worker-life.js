// The life of an engine worker, told to the page: the first script of both engine workers
// (`worker-boot.js`, classic, loads it with importScripts; `worker-threads-boot.js`, a module,
// imports it). Both are started from the root of the site with `?name=...`, so the engine's relative
// URLs (./public/data/...) mean what they mean on the page. Before the engine's WebAssembly starts,
// it makes sure the page learns when this worker ends, whatever ends it:
// - it holds a Web Lock named after the worker for as long as it lives; the page waits on the same
//   lock, so even a worker that is terminated or killed without a word releases it;
// - an end with a reason (an internal error, a lost GPU device, a thread pool that could not start)
//   is told on a BroadcastChannel of the same name before the worker closes itself.
const name = new URLSearchParams(self.location.search).get("name") || "tripletlab-engine";
const channel = new BroadcastChannel(name);
// The threaded worker's boot script (a module, which does not see this one's names) needs it.
self.tripletlabName = name;
let ended = false;

self.tripletlabEnd = (reason) => {
  if (ended) return;
  ended = true;
  channel.postMessage({ reason: String(reason) });
  self.close();
};

if (self.navigator.locks) {
  self.navigator.locks.request(name, () => new Promise(() => {}));
}

// A lost GPU device cannot be used again by this worker's burn backend: end the worker so that
// the page starts a fresh one (with a fresh device) and resumes from the stored checkpoint.
self.tripletlabGpuDevices = [];
if (self.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    self.tripletlabGpuDevices.push(device);
    device.lost.then((info) => {
      const why = info.message ? `: ${info.message.replace(/[.\s]+$/, "")}` : "";
      self.tripletlabEnd(`The GPU device was lost (${info.reason})${why}.`);
    });
    return device;
  };
}

