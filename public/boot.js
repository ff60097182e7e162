// Starts the page's WebAssembly. A file, not an inline script, so the Content-Security-Policy
// needs no 'unsafe-inline': Trunk writes the hashed file names into this script tag's data.
const tag = document.getElementById("tripletlab-boot");
const { default: init } = await import(tag.dataset.js);
await init({ module_or_path: tag.dataset.wasm });
