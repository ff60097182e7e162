//! `tripletlab embed`: the 1280-d templates of every image of a CIFAR-format file, as the
//! Embedding Projector loads them (vectors and metadata TSV, a sprite of the pictures, its config).

use std::fs;
use std::path::PathBuf;

use clap::Args;
use tripletlab_core::data::Dataset;
use tripletlab_core::data::cifar::{Batch, CLASS_COUNT};
use tripletlab_core::projector::{Point, projector_files};
use tripletlab_core::train::{embed, load_encoder};

use crate::backend::BackendName;
use crate::error::CliError;
use crate::settings::{DEFAULT_WEIGHTS, ScalingArg};
use crate::train::write;

#[derive(Args)]
pub struct EmbedArgs {
    /// A CIFAR-10 format batch file (.bin).
    #[arg(long)]
    pub data: PathBuf,
    /// The shipped pretrained file or a training checkpoint.
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub weights: PathBuf,
    /// Output folder for vectors.tsv, metadata.tsv, sprite.png and projector_config.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Input scaling [default: what the checkpoint was trained with; x/255 for pretrained].
    #[arg(long, value_enum)]
    pub scaling: Option<ScalingArg>,
    /// Class names, one a line (batches.meta.txt) [default: the file's folder's, else numbers].
    #[arg(long)]
    pub meta: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendName::Flex)]
    pub backend: BackendName,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

pub fn run(args: EmbedArgs) -> Result<(), CliError> {
    let bytes = fs::read(&args.data).map_err(CliError::io(&args.data))?;
    let batch = Batch::parse(&args.data.display().to_string(), &bytes)?;
    let class_names = class_names(&args)?;
    let data = Dataset::from_batches("embed", false, class_names, [batch]);
    let device = args.backend.init()?;
    let weights = fs::read(&args.weights).map_err(CliError::io(&args.weights))?;
    let encoder = load_encoder(&args.weights.display().to_string(), &weights, &device)?;
    let scaling = args.scaling.map(ScalingArg::into_scaling).or(encoder.trained_scaling).unwrap_or_default();
    let indices: Vec<u32> = (0..data.len() as u32).collect();
    let rows = pollster::block_on(embed(&encoder.model, &data, &indices, scaling, args.batch.max(1), &device))?;

    // The Embedding Projector's four files (vectors, metadata, sprite, config): the page's
    // export writes the same (`tripletlab_core::projector`).
    let split = args.data.file_stem().and_then(|stem| stem.to_str()).unwrap_or("images").to_string();
    let classes: Vec<String> = data.labels.iter().map(|&label| data.class_name(usize::from(label))).collect();
    let points: Vec<Point> = rows
        .iter()
        .enumerate()
        .map(|(at, row)| Point { vector: row, pixels: data.image(at), class: &classes[at], split: &split })
        .collect();
    let files = projector_files(&points).map_err(|err| CliError::Source(err.to_string()))?;
    for (name, bytes) in &files {
        write(&args.out.join(name), bytes)?;
    }
    println!(
        "wrote {} templates of {} numbers ({scaling:?} scaling) to {}",
        rows.len(),
        rows.first().map_or(0, Vec::len),
        args.out.display()
    );
    Ok(())
}

fn class_names(args: &EmbedArgs) -> Result<Vec<String>, CliError> {
    let beside = args.data.parent().map(|dir| dir.join("batches.meta.txt"));
    let path = args.meta.clone().or(beside.filter(|path| path.is_file()));
    match path {
        Some(path) => {
            let bytes = fs::read(&path).map_err(CliError::io(&path))?;
            Ok(tripletlab_core::data::cifar::parse_class_names(&path.display().to_string(), &bytes)?)
        }
        None => Ok((0..CLASS_COUNT).map(|class| format!("class {class}")).collect()),
    }
}
