//! The run stored in this browser (IndexedDB): the latest checkpoint and what the page needs to
//! show the run's past. One record, written in one transaction, so a reader sees either the old
//! record or the new one, never half of each.

use js_sys::{Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbFactory, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode};

use crate::net::js_text;
use tripletlab_protocol::{RunHistory, SavedRunInfo, TrainSettings};

const DATABASE: &str = "tripletlab";
const VERSION: u32 = 1;
const STORE: &str = "runs";
const KEY: &str = "last";

/// What is stored beside the checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedMeta {
    pub settings: TrainSettings,
    /// The dataset's name; empty for an imported checkpoint (any loaded dataset will do).
    pub dataset: String,
    /// Where a served dataset came from, to load it again on resume.
    pub source: Option<(String, Option<u32>)>,
    pub history: RunHistory,
    pub info: SavedRunInfo,
}

/// Store `meta` and `checkpoint` as the run to resume, replacing the previous one.
pub async fn put(meta: &SavedMeta, checkpoint: &[u8]) -> Result<(), String> {
    let text = serde_json::to_string(meta).map_err(|err| err.to_string())?;
    let record = Object::new();
    let set =
        |key: &str, value: &JsValue| Reflect::set(&record, &JsValue::from_str(key), value).map_err(|e| js_text(&e));
    set("meta", &JsValue::from_str(&text))?;
    set("checkpoint", &Uint8Array::from(checkpoint).into())?;
    let db = open().await?;
    let transaction =
        db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite).map_err(|err| js_text(&err))?;
    let store = transaction.object_store(STORE).map_err(|err| js_text(&err))?;
    store.put_with_key(&record, &JsValue::from_str(KEY)).map_err(|err| js_text(&err))?;
    finished(&transaction).await
}

/// The stored run, if any.
pub async fn get() -> Result<Option<(SavedMeta, Vec<u8>)>, String> {
    let db = open().await?;
    let transaction = db.transaction_with_str(STORE).map_err(|err| js_text(&err))?;
    let store = transaction.object_store(STORE).map_err(|err| js_text(&err))?;
    let request = store.get(&JsValue::from_str(KEY)).map_err(|err| js_text(&err))?;
    let record = answered(&request).await?;
    if record.is_undefined() || record.is_null() {
        return Ok(None);
    }
    let field = |key: &str| Reflect::get(&record, &JsValue::from_str(key)).map_err(|err| js_text(&err));
    let text = field("meta")?.as_string().ok_or("the stored run has no description")?;
    let meta: SavedMeta = serde_json::from_str(&text).map_err(|err| format!("the stored run is unreadable: {err}"))?;
    let bytes = field("checkpoint")?.dyn_into::<Uint8Array>().map_err(|_| "the stored run has no checkpoint")?.to_vec();
    Ok(Some((meta, bytes)))
}

/// Delete the stored run.
pub async fn forget() -> Result<(), String> {
    let db = open().await?;
    let transaction =
        db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite).map_err(|err| js_text(&err))?;
    let store = transaction.object_store(STORE).map_err(|err| js_text(&err))?;
    store.delete(&JsValue::from_str(KEY)).map_err(|err| js_text(&err))?;
    finished(&transaction).await
}

async fn open() -> Result<IdbDatabase, String> {
    let factory = Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .ok()
        .and_then(|value| value.dyn_into::<IdbFactory>().ok())
        .ok_or("this browser offers no IndexedDB here (private mode may switch it off)")?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, VERSION).map_err(|err| js_text(&err))?;
    let upgrading = request.clone();
    let on_upgrade = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        if let Some(db) = upgrading.result().ok().and_then(|value| value.dyn_into::<IdbDatabase>().ok())
            && !db.object_store_names().contains(STORE)
        {
            let _ = db.create_object_store(STORE);
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let opened = answered(&request).await;
    request.set_onupgradeneeded(None);
    drop(on_upgrade);
    opened?.dyn_into::<IdbDatabase>().map_err(|_| "IndexedDB returned no database".to_string())
}

/// The result of `request`, once it succeeds.
async fn answered(request: &IdbRequest) -> Result<JsValue, String> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    request.set_onsuccess(None);
    request.set_onerror(None);
    match outcome {
        Ok(_) => request.result().map_err(|err| js_text(&err)),
        Err(_) => Err(request_error(request)),
    }
}

/// Wait for `transaction` to commit.
async fn finished(transaction: &IdbTransaction) -> Result<(), String> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        transaction.set_oncomplete(Some(&resolve));
        transaction.set_onerror(Some(&reject));
        transaction.set_onabort(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    match outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(transaction
            .error()
            .map(|error| format!("{}: {}", error.name(), error.message()))
            .unwrap_or_else(|| "the browser refused to store the run".to_string())),
    }
}

fn request_error(request: &IdbRequest) -> String {
    match request.error() {
        Ok(Some(error)) => format!("{}: {}", error.name(), error.message()),
        _ => "the browser's storage refused the request".to_string(),
    }
}
