//! `tripletlab`: Triplet Lab on the command line, the same core on native burn backends.

mod backend;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use backend::BackendName;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Doctor { backend } => doctor(backend),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn doctor(backend: BackendName) -> Result<(), String> {
    let device = backend.init().map_err(|err| err.to_string())?;
    let check = pollster::block_on(tripletlab_core::selfcheck::matmul_check(&device))
        .map_err(|err| err.to_string())?;
    println!("backend: {}", backend.describe());
    println!(
        "matmul [[1,2,3],[4,5,6]] x [[7,8],[9,10],[11,12]] = {:?} (expected {:?}, max error {})",
        check.computed, check.expected, check.max_abs_error
    );
    if check.passed() {
        println!("ok");
        Ok(())
    } else {
        Err(format!("{} computed a wrong product", backend.describe()))
    }
}
