//! Asking the browser for a WebGPU adapter, from inside the worker.
//!
//! `web-sys` only exposes WebGPU behind an unstable cfg flag, which would change the build of
//! every crate sharing it; the few properties needed here are read through `js-sys` instead.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use tripletlab_protocol::{AdapterInfo, AdapterReport, NoAdapter};

/// Look for a WebGPU adapter the way burn's wgpu backend will.
pub async fn probe() -> AdapterReport {
    let navigator = property(&js_sys::global(), "navigator");
    let Some(gpu) = navigator.and_then(|navigator| property(&navigator, "gpu")) else {
        return AdapterReport::Unavailable(NoAdapter::NoApi);
    };
    let adapter = match request_adapter(&gpu).await {
        Ok(Some(adapter)) => adapter,
        Ok(None) => return AdapterReport::Unavailable(NoAdapter::NoAdapter),
        Err(err) => return AdapterReport::Unavailable(NoAdapter::RequestFailed(err)),
    };
    let info = property(&adapter, "info");
    let text = |name: &str| {
        info.as_ref().and_then(|info| property(info, name)).and_then(|value| value.as_string()).unwrap_or_default()
    };
    // Chromium moved `isFallbackAdapter` from the adapter to its info; accept either.
    let is_fallback = info
        .as_ref()
        .and_then(|info| property(info, "isFallbackAdapter"))
        .or_else(|| property(&adapter, "isFallbackAdapter"))
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    AdapterReport::Available(AdapterInfo {
        vendor: text("vendor"),
        architecture: text("architecture"),
        device: text("device"),
        description: text("description"),
        is_fallback,
    })
}

async fn request_adapter(gpu: &JsValue) -> Result<Option<JsValue>, String> {
    let request: Function = property(gpu, "requestAdapter")
        .and_then(|value| value.dyn_into().ok())
        .ok_or_else(|| "navigator.gpu.requestAdapter is not a function".to_string())?;
    let promise: Promise = request.call0(gpu).and_then(|value| value.dyn_into()).map_err(describe_js_error)?;
    let adapter = JsFuture::from(promise).await.map_err(describe_js_error)?;
    Ok((!adapter.is_null() && !adapter.is_undefined()).then_some(adapter))
}

/// `target[name]`, or `None` when it is missing, null or undefined.
fn property(target: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(name)).ok().filter(|value| !value.is_null() && !value.is_undefined())
}

fn describe_js_error(err: JsValue) -> String {
    err.as_string()
        .or_else(|| property(&err, "message").and_then(|message| message.as_string()))
        .unwrap_or_else(|| format!("{err:?}"))
}
