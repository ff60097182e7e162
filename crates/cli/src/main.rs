//! `tripletlab`: Triplet Lab on the command line, the same core on native burn backends.

mod backend;
mod dataset;
mod embed;
mod error;
mod prepare;
mod quality;
mod settings;
mod speed;
mod train;
mod weights;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use backend::BackendName;
use error::CliError;

#[derive(Parser)]
#[command(name = "tripletlab", version, about = "Train and inspect a triplet-loss MobileNetV2 encoder")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that a backend starts and computes a known matrix product correctly.
    Doctor {
        /// Which burn backend to check.
        #[arg(long, value_enum, default_value_t = BackendName::Flex)]
        backend: BackendName,
    },
    /// Turn a dataset source into the files the page serves: batch files (the shards) and a
    /// manifest.json with their sizes and SHA-256.
    Prepare {
        /// A cifar-10-binary.tar.gz, a folder of CIFAR-10 .bin files with batches.meta.txt,
        /// `download` (the official archive, when online) or `synthetic` (generated shapes).
        #[arg(long = "from", value_name = "SOURCE", required_unless_present = "from_folders")]
        source: Option<String>,
        /// Your own pictures instead: a folder whose sub-folders are the classes (2 to 10, at
        /// least 4 pictures each; PNG, JPEG, WebP or GIF up to 100 megapixels), or a .zip of
        /// such a folder. Each picture's centred square is scaled to 32 x 32, as the page does.
        #[arg(long, value_name = "DIR", conflicts_with = "source")]
        from_folders: Option<PathBuf>,
        /// Output folder [default: public/data/<dataset name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Keep only the first N batch files (a smaller dataset for quick demos).
        #[arg(long, value_name = "N")]
        shards: Option<usize>,
        /// Synthetic only: images in each batch file.
        #[arg(long, default_value_t = 1_000)]
        images_per_shard: usize,
        /// Synthetic only: the generator's seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Train the encoder on a prepared dataset (the recipe's defaults), with a Keras-like line
    /// per epoch, a checkpoint after each epoch and a JSON report.
    Train(settings::TrainArgs),
    /// Every setting `train --set key=value` and a lesson link take: key, values, meaning (the
    /// settings table the page's form is made from).
    Settings,
    /// The recipe once per seed on a prepared dataset: held-out loss per epoch, the held-out AUC
    /// with DeLong's 95% interval, and the spread over seeds (a benchmark; `cargo xtask bench
    /// quality` runs it beside the tutorial's Keras code).
    Quality(quality::QualityArgs),
    /// Two recipes' `quality` reports on the same held-out pairs, seed by seed: each AUC, their
    /// difference with its 95% interval and DeLong's paired p-value, and the mean over seeds.
    Compare(quality::CompareArgs),
    /// Write the 1280-d templates of a CIFAR-format .bin file as vectors.tsv + metadata.tsv.
    Embed(embed::EmbedArgs),
    /// Training and inference throughput on a backend (a benchmark; `cargo xtask bench` runs it).
    Speed(speed::SpeedArgs),
    /// Check a weights file against MobileNetV2 (width 1.0) and write the weights.json that the
    /// page reads before it downloads them (a site with other weights: `cargo xtask site`).
    Weights(weights::WeightsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Doctor { backend } => doctor(backend),
        Command::Prepare { source, from_folders, out, shards, images_per_shard, seed } => {
            let options = prepare::Options { shards, images_per_shard, seed };
            match (source, from_folders) {
                (_, Some(folder)) => prepare::run_pictures(&folder, out),
                (Some(source), None) => prepare::run(&source, out, &options),
                (None, None) => Err(error::CliError::Source("give --from SOURCE or --from-folders DIR".into())),
            }
        }
        Command::Train(args) => train::run(args),
        Command::Settings => {
            print!("{}", settings::settings_help());
            Ok(())
        }
        Command::Quality(args) => quality::run(args),
        Command::Compare(args) => quality::compare(args),
        Command::Embed(args) => embed::run(args),
        Command::Speed(args) => speed::run(args),
        Command::Weights(args) => weights::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn doctor(backend: BackendName) -> Result<(), CliError> {
    let device = backend.init()?;
    let check = pollster::block_on(tripletlab_core::selfcheck::matmul_check(&device))?;
    println!("backend: {}", backend.describe());
    println!(
        "matmul [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = {:?} (expected {:?}, max error {})",
        check.computed, check.expected, check.max_abs_error
    );
    if check.passed() {
        println!("ok");
        Ok(())
    } else {
        Err(CliError::WrongAnswer(backend.describe()))
    }
}
