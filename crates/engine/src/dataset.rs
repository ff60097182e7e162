//! Loading a dataset into the worker: served shards (fetched, verified, cached) or files the
//! visitor chose. Either the whole dataset loads, or an error says which file failed and why;
//! nothing partial is ever kept.

use tripletlab_core::data::archive::read_cifar_tar_gz;
use tripletlab_core::data::manifest::{DatasetIndex, Manifest};
use tripletlab_core::data::{Batch, CifarFiles, DataError, Dataset};
use web_time::Instant;

use crate::cache::FileCache;
use crate::net::{FetchError, fetch_with_retry};
use tripletlab_protocol::{DatasetSummary, DroppedFile, LoadProgress};

/// Why a dataset did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{0}")]
    Request(String),
}

/// The most an index or a manifest may hold: a few hundred shards' names and hashes.
const MAX_LIST_BYTES: u64 = 1 << 20;

/// Read the index of served datasets.
pub async fn list(index_url: &str) -> Result<DatasetIndex, LoadError> {
    match fetch_with_retry(index_url, MAX_LIST_BYTES, &mut |_| {}).await {
        Ok(bytes) => Ok(DatasetIndex::parse(index_url, &bytes)?),
        // No index: nothing was prepared. That is an empty list, not an error.
        Err(FetchError::Http { status: 404, .. }) => Ok(DatasetIndex::default()),
        Err(err) => Err(err.into()),
    }
}

/// Fetch a served dataset: manifest, then each shard from the cache or the network, verified.
/// `warn` hears what went wrong without stopping the load (a shard that could not be cached).
pub async fn load_served(
    manifest_url: &str,
    max_shards: Option<u32>,
    progress: &dyn Fn(LoadProgress),
    warn: &dyn Fn(String),
) -> Result<(Dataset, DatasetSummary), LoadError> {
    let started = Instant::now();
    let manifest_bytes = fetch_with_retry(manifest_url, MAX_LIST_BYTES, &mut |_| {}).await?;
    let manifest = Manifest::parse(manifest_url, &manifest_bytes)?;
    let shards = manifest.first_shards(max_shards.map(|n| n as usize));
    let base = manifest_url.rsplit_once('/').map_or("", |(base, _)| base);

    let cache = FileCache::open().await;
    let mut state = LoadProgress {
        shards_total: shards.len() as u32,
        bytes_total: shards.iter().map(|shard| shard.bytes).sum(),
        ..LoadProgress::default()
    };
    let mut downloaded = 0;
    let mut cache_refused = false;
    let mut batches = Vec::with_capacity(shards.len());
    for shard in shards {
        let url = format!("{base}/{}", shard.file);
        state.current = shard.file.clone();
        progress(state.clone());
        let cached = cache.get_verified(&url, &shard.sha256, |bytes| shard.verify(bytes).is_ok()).await;
        let bytes = match cached {
            Some(bytes) => {
                state.from_cache += 1;
                bytes
            }
            None => {
                let bytes = download_verified(&url, shard, &mut state, progress).await?;
                downloaded += bytes.len() as u64;
                // A full cache only costs a download next time: say so once, and go on.
                if let Err(err) = cache.put(&url, &shard.sha256, &bytes).await
                    && !cache_refused
                {
                    cache_refused = true;
                    warn(format!(
                        "The browser did not keep {} for the next visit ({err}); it will be downloaded again.",
                        shard.file
                    ));
                }
                bytes
            }
        };
        batches.push(Batch::parse(&shard.file, &bytes)?);
        state.shards_done += 1;
        state.bytes_done = shards[..state.shards_done as usize].iter().map(|s| s.bytes).sum();
        progress(state.clone());
    }
    let dataset = Dataset::from_batches(manifest.name, manifest.synthetic, manifest.class_names, batches);
    let summary = summarize(&dataset, state.shards_total, state.from_cache, downloaded, started);
    Ok((dataset, summary))
}

/// Download one shard and check it; a corrupt download is fetched once more before failing.
async fn download_verified(
    url: &str,
    shard: &tripletlab_core::data::manifest::Shard,
    state: &mut LoadProgress,
    progress: &dyn Fn(LoadProgress),
) -> Result<Vec<u8>, LoadError> {
    let before = state.bytes_done;
    let mut last_report = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut on_bytes = |received: u64| {
            if last_report.elapsed().as_millis() >= 100 {
                last_report = Instant::now();
                let mut now = state.clone();
                now.bytes_done = before + received.min(shard.bytes);
                progress(now);
            }
        };
        // A shard is exactly as long as its manifest says; more is not the shard.
        let bytes = fetch_with_retry(url, shard.bytes, &mut on_bytes).await?;
        match shard.verify(&bytes) {
            Ok(()) => return Ok(bytes),
            Err(err) if attempt >= 2 => return Err(err.into()),
            Err(_) => {}
        }
    }
}

/// Read files the visitor chose: one `.tar.gz` archive, or batch files with their meta file.
pub fn load_dropped(files: Vec<DroppedFile>) -> Result<(Dataset, DatasetSummary), LoadError> {
    let started = Instant::now();
    if files.is_empty() {
        return Err(LoadError::Request("no files were chosen".into()));
    }
    let archive = files.iter().find(|file| file.name.ends_with(".tar.gz") || file.name.ends_with(".tgz"));
    let parsed = match archive {
        Some(archive) => read_cifar_tar_gz(&archive.name, archive.bytes.as_slice())?,
        None => {
            CifarFiles::parse("the chosen files", files.iter().map(|file| (file.name.as_str(), file.bytes.as_slice())))?
        }
    };
    let shards = parsed.batches.len() as u32;
    // Our own synthetic shards name every class "synthetic ...": keep saying so.
    let synthetic = parsed.class_names.iter().all(|name| name.starts_with("synthetic "));
    // Pictures saved from this page (classes named "unused class N" fill the format's ten) are
    // the visitor's own, not CIFAR-10.
    let own = parsed.class_names.iter().any(|name| name.starts_with("unused class "));
    let name = match (synthetic, own) {
        (true, _) => "synthetic-shapes (your files)",
        (false, true) => "your pictures (your files)",
        (false, false) => "cifar-10 (your files)",
    };
    let dataset = parsed.into_dataset(name, synthetic);
    let summary = summarize(&dataset, shards, 0, 0, started);
    Ok((dataset, summary))
}

pub fn summarize(
    dataset: &Dataset,
    shards: u32,
    from_cache: u32,
    downloaded_bytes: u64,
    started: Instant,
) -> DatasetSummary {
    DatasetSummary {
        name: dataset.name.clone(),
        synthetic: dataset.synthetic,
        images: dataset.len() as u64,
        class_names: dataset.class_names.clone(),
        class_counts: dataset.class_counts().iter().map(|&count| count as u64).collect(),
        shards,
        from_cache,
        downloaded_bytes,
        millis: started.elapsed().as_secs_f64() * 1000.0,
        samples: Vec::new(),
    }
}
