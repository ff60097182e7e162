//! Reading a prepared dataset folder (`manifest.json` and its shards), verified.

use std::fs;
use std::path::Path;

use tripletlab_core::data::manifest::{MANIFEST_FILE, Manifest};
use tripletlab_core::data::{Batch, Dataset};

use crate::error::CliError;

/// Read every shard listed by `dir/manifest.json`, checking size and SHA-256; `max_shards`
/// keeps only the first ones.
pub fn read_prepared(dir: &Path, max_shards: Option<usize>) -> Result<Dataset, CliError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&manifest_path).map_err(CliError::io(&manifest_path))?;
    let manifest = Manifest::parse(&manifest_path.display().to_string(), &bytes)?;
    let mut batches = Vec::new();
    for shard in manifest.first_shards(max_shards) {
        let path = dir.join(&shard.file);
        let bytes = fs::read(&path).map_err(CliError::io(&path))?;
        shard.verify(&bytes)?;
        batches.push(Batch::parse(&shard.file, &bytes)?);
    }
    Ok(Dataset::from_batches(manifest.name, manifest.synthetic, manifest.class_names, batches))
}
