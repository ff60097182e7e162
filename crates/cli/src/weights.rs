//! `tripletlab weights`: check a weights file against MobileNetV2 (width 1.0) and write the
//! `weights.json` a site serves beside it (see `tripletlab_core::model::weights_manifest`),
//! optionally for a copy with its kernels stored as f16 (half the download).

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use tripletlab_core::model::MobileNetV2Config;
use tripletlab_core::model::safetensors::TensorFile;
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
    /// Serve a copy with the pointwise and stem kernels rounded to f16 (half the download;
    /// depthwise kernels and BatchNorm's numbers stay f32; the page widens them to f32 when it
    /// loads them): writes STEM.f16.safetensors beside
    /// FILE, names it in the manifest and says so in the description.
    #[arg(long)]
    pub half: bool,
}

/// The sentence `--half` adds to the description.
pub const HALF_SENTENCE: &str =
    "Sent with most convolution kernels rounded to f16 (half the download), widened to f32 on load.";

pub fn run(args: WeightsArgs) -> Result<(), CliError> {
    // The file itself first: nothing is written for one that is not a MobileNetV2.
    let mut manifest = check(&args.file, &args.description)?;
    if args.half {
        let half = write_half(&args.file)?;
        manifest = check(&half, &format!("{} {HALF_SENTENCE}", args.description.trim()))?;
    }
    let out = args.manifest.unwrap_or_else(|| args.file.with_file_name(WEIGHTS_MANIFEST));
    fs::write(&out, manifest.to_json()).map_err(CliError::io(&out))?;
    println!(
        "{}: a MobileNetV2 of width 1.0, {} bytes, SHA-256 {}; wrote {}",
        manifest.file,
        manifest.bytes,
        manifest.sha256,
        out.display()
    );
    Ok(())
}

/// Write `file`'s tensors with the kernels as f16 beside it (`STEM.f16.safetensors`); its path.
pub fn write_half(file: &Path) -> Result<PathBuf, CliError> {
    let bytes = fs::read(file).map_err(CliError::io(file))?;
    let tensors = TensorFile::parse(&file.display().to_string(), &bytes).map_err(weights::WeightsError::from)?;
    let half = weights::to_half_bytes(&tensors).map_err(weights::WeightsError::from)?;
    let stem = file.file_stem().and_then(|stem| stem.to_str()).unwrap_or("weights");
    let out = file.with_file_name(format!("{stem}.f16.safetensors"));
    fs::write(&out, half).map_err(CliError::io(&out))?;
    Ok(out)
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
