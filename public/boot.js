// Starts the page's WebAssembly. A file, not an inline script, so the Content-Security-Policy
// needs no 'unsafe-inline': Trunk writes the hashed file names into this script tag's data,
// relative to the page (the site works under any path), so they are resolved against the page's
// address, not this script's.
const tag = document.getElementById("tripletlab-boot");
const page = (path) => new URL(path, document.baseURI).href;
const { default: init } = await import(page(tag.dataset.js));
await init({ module_or_path: page(tag.dataset.wasm) });

// Offline after one visit (web/sw.js): a site build's worker precaches the page; in a development
// build it answers nothing. Browsers without service workers, or pages not served over https or
// localhost, simply go without.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(page("sw.js")).catch((err) => console.info(`No offline copy: ${err.message}`));
}
