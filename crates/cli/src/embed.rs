//! `tripletlab embed`: the 1280-d templates of every image of a CIFAR-format file, in the
//! Embedding Projector's TSV format.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use clap::Args;
use tripletlab_core::data::Dataset;
use tripletlab_core::data::cifar::{Batch, CLASS_COUNT};
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
    /// Output folder for vectors.tsv and metadata.tsv.
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

    let mut vectors = String::new();
    for row in &rows {
        let line: Vec<String> = row.iter().map(|value| value.to_string()).collect();
        let _ = writeln!(vectors, "{}", line.join("\t"));
    }
    let mut metadata = String::from("index\tlabel\tclass\n");
    for (index, &label) in data.labels.iter().enumerate() {
        let _ = writeln!(metadata, "{index}\t{label}\t{}", data.class_names[usize::from(label)]);
    }
    write(&args.out.join("vectors.tsv"), vectors.as_bytes())?;
    write(&args.out.join("metadata.tsv"), metadata.as_bytes())?;
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
