//! `tripletlab weights`: check a weights file against MobileNetV2 (width 1.0) and write the
//! `weights.json` a site serves beside it (see `tripletlab_core::model::weights_manifest`).

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use tripletlab_core::model::MobileNetV2Config;
use tripletlab_core::model::weights;
use tripletlab_core::model::weights_manifest::{WEIGHTS_MANIFEST, WeightsManifest};

use crate::backend::BackendName;
use crate::error::CliError;

#[derive(Args)]
pub struct WeightsArgs {
    /// A MobileNetV2 (width 1.0, no top) in our safetensors layout (`public/weights/README.md`;
    /// `tools/convert_keras_mobilenetv2.py` makes one from a Keras .h5).
    pub file: PathBuf,
    /// What the weights are, in a sentence the page shows (where they were trained, on what).
    #[arg(long)]
    pub description: String,
    /// Where to write the manifest [default: weights.json beside FILE].
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

pub fn run(args: WeightsArgs) -> Result<(), CliError> {
    let manifest = check(&args.file, &args.description)?;
    let out = args.manifest.unwrap_or_else(|| args.file.with_file_name(WEIGHTS_MANIFEST));
    fs::write(&out, manifest.to_json()).map_err(CliError::io(&out))?;
    println!(
        "{}: a MobileNetV2 of width 1.0, {} bytes, SHA-256 {}; wrote {}",
        args.file.display(),
        manifest.bytes,
        manifest.sha256,
        out.display()
    );
    Ok(())
}

/// The manifest of `file`, once its tensors have loaded into a MobileNetV2 of width 1.0.
pub fn check(file: &Path, description: &str) -> Result<WeightsManifest, CliError> {
    if description.trim().is_empty() {
        return Err(CliError::Usage("--description must say what the weights are".into()));
    }
    let bytes = fs::read(file).map_err(CliError::io(file))?;
    let name = file
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or_else(|| CliError::Usage(format!("{} has no file name the page can fetch", file.display())))?;
    let device = BackendName::Flex.init()?;
    weights::load(&file.display().to_string(), &bytes, &MobileNetV2Config::default(), &device)?;
    let manifest = WeightsManifest::describe(name, &bytes, description.trim());
    // The page refuses a manifest it cannot use: refuse it here first, with the same words.
    let json = manifest.to_json();
    WeightsManifest::parse(&file.display().to_string(), json.as_bytes())
        .map_err(|err| CliError::Usage(err.to_string()))?;
    Ok(manifest)
}
