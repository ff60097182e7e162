//! The browser's Cache API as a store of verified files, so a second visit downloads nothing.
//! Entries are keyed by URL and SHA-256, and checked again when read.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, Response};

use crate::net::js_text;

/// Bump to drop every cached file of older versions.
const CACHE_NAME: &str = "tripletlab-data-v1";

/// The cache, or nothing where the browser offers none (e.g. a page not served over https or
/// localhost): loading still works, it just downloads every time.
pub struct FileCache {
    cache: Option<Cache>,
}

impl FileCache {
    pub async fn open() -> Self {
        let storage = Reflect::get(&js_sys::global(), &JsValue::from_str("caches"))
            .ok()
            .and_then(|value| value.dyn_into::<CacheStorage>().ok());
        let cache = match storage {
            Some(storage) => {
                JsFuture::from(storage.open(CACHE_NAME)).await.ok().and_then(|value| value.dyn_into::<Cache>().ok())
            }
            None => None,
        };
        Self { cache }
    }

    fn key(url: &str, sha256: &str) -> String {
        format!("{url}#sha256={sha256}")
    }

    /// The cached bytes of `url` at this hash, if any.
    pub async fn get(&self, url: &str, sha256: &str) -> Option<Vec<u8>> {
        let cache = self.cache.as_ref()?;
        let found = JsFuture::from(cache.match_with_str(&Self::key(url, sha256))).await.ok()?;
        let response: Response = found.dyn_into().ok()?;
        let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
        Some(Uint8Array::new(&buffer).to_vec())
    }

    /// The cached bytes of `url` at this hash when they pass `verify`; a copy that fails is deleted.
    pub async fn get_verified(&self, url: &str, sha256: &str, verify: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let bytes = self.get(url, sha256).await?;
        if verify(&bytes) {
            return Some(bytes);
        }
        self.delete(url, sha256).await;
        None
    }

    /// Keep verified bytes. Failing to cache (quota, private mode) is not an error for loading.
    pub async fn put(&self, url: &str, sha256: &str, bytes: &[u8]) -> Result<(), String> {
        let Some(cache) = self.cache.as_ref() else { return Ok(()) };
        let array = Uint8Array::from(bytes);
        let body: &js_sys::Object = &array;
        let response = Response::new_with_opt_buffer_source(Some(body)).map_err(|err| js_text(&err))?;
        JsFuture::from(cache.put_with_str(&Self::key(url, sha256), &response))
            .await
            .map(|_| ())
            .map_err(|err| js_text(&err))
    }

    /// Forget a cached file (it failed verification).
    pub async fn delete(&self, url: &str, sha256: &str) {
        if let Some(cache) = self.cache.as_ref() {
            let _ = JsFuture::from(cache.delete_with_str(&Self::key(url, sha256))).await;
        }
    }
}
