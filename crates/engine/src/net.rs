//! Fetching bytes with progress and retries, from inside the worker.

use gloo_net::http::Request;
use gloo_timers::future::TimeoutFuture;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::ReadableStreamDefaultReader;

/// Attempts per file: the first, then retries after 0.5, 1 and 2 seconds.
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF_MS: u32 = 500;

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    #[error("{url} answered HTTP {status} {text}")]
    Http { url: String, status: u16, text: String },
    #[error("{url} could not be fetched: {reason}")]
    Network { url: String, reason: String },
    #[error("{url} is larger than the {limit} bytes expected of it; the server sends something else")]
    TooLarge { url: String, limit: u64 },
}

impl FetchError {
    /// Worth trying again: network failures, server errors and rate limits, not a 404.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Self::Network { .. } => true,
            Self::TooLarge { .. } => false,
        }
    }
}

/// Fetch `url`, retrying transient failures with exponential backoff. `on_bytes` is told the
/// bytes received so far in the current attempt. A body longer than `limit` bytes is cut off with
/// [`FetchError::TooLarge`], so a wrong or hostile server cannot fill the worker's memory.
pub async fn fetch_with_retry(url: &str, limit: u64, on_bytes: &mut dyn FnMut(u64)) -> Result<Vec<u8>, FetchError> {
    let mut backoff = FIRST_BACKOFF_MS;
    let mut attempt = 1;
    loop {
        match fetch_bytes(url, limit, on_bytes).await {
            Ok(bytes) => return Ok(bytes),
            Err(err) if attempt < ATTEMPTS && err.is_transient() => {
                TimeoutFuture::new(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// One attempt: the body is read as a stream so progress can be reported.
pub async fn fetch_bytes(url: &str, limit: u64, on_bytes: &mut dyn FnMut(u64)) -> Result<Vec<u8>, FetchError> {
    let network = |reason: String| FetchError::Network { url: url.to_string(), reason };
    let response =
        Request::get(url).cache(web_sys::RequestCache::NoStore).send().await.map_err(|err| network(err.to_string()))?;
    if !response.ok() {
        return Err(FetchError::Http { url: url.to_string(), status: response.status(), text: response.status_text() });
    }
    let too_large = || FetchError::TooLarge { url: url.to_string(), limit };
    let declared = response.headers().get("content-length").and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let Some(stream) = response.body() else {
        let bytes = response.binary().await.map_err(|err| network(err.to_string()))?;
        return if bytes.len() as u64 > limit { Err(too_large()) } else { Ok(bytes) };
    };
    let reader: ReadableStreamDefaultReader =
        stream.get_reader().dyn_into().map_err(|_| network("the response body cannot be read as a stream".into()))?;
    let mut bytes = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|err| network(js_text(&err)))?;
        let done =
            Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|done| done.as_bool()).unwrap_or(true);
        if done {
            return Ok(bytes);
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).map_err(|err| network(js_text(&err)))?;
        let array: Uint8Array =
            value.dyn_into().map_err(|_| network("the response stream gave something other than bytes".into()))?;
        let start = bytes.len();
        if (start + array.length() as usize) as u64 > limit {
            let _ = reader.cancel();
            return Err(too_large());
        }
        bytes.resize(start + array.length() as usize, 0);
        array.copy_to(&mut bytes[start..]);
        on_bytes(bytes.len() as u64);
    }
}

/// A JavaScript error as text.
pub fn js_text(err: &JsValue) -> String {
    err.as_string()
        .or_else(|| Reflect::get(err, &JsValue::from_str("message")).ok().and_then(|message| message.as_string()))
        .unwrap_or_else(|| format!("{err:?}"))
}
