//! Developer commands: `cargo xtask serve`, `cargo xtask site`, `cargo xtask test`, `cargo xtask bench`,
//! `cargo xtask fuzz` and `cargo xtask mutants`.
//!
//! Each command first installs what it is missing (and nothing it already has), so a fresh
//! machine and a warm one run the same command.

mod bench;
mod data;
mod fuzz;
mod mutants;
mod quality;
mod run;
mod site;
mod soak;
mod suite;
mod threads;
mod tools;

use std::process::ExitCode;

use run::Failure;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  serve   install what is missing, then serve the page on http://127.0.0.1:8080 (trunk serve)
  site --out DIR [--as-built]
          the page as a folder of static files for any web host (root or sub-path), offline
          after one visit: release build, datasets (real CIFAR-10 by serve's rules, and the
          synthetic set), weights (TRIPLETLAB_WEIGHTS=FILE with TRIPLETLAB_WEIGHTS_DESCRIPTION
          for others), _headers, service worker; --as-built: from dist/ as it is, its data too
          (what the browser tests serve), without building
  threads-worker [--out DIR]
          the threaded CPU worker (crates/engine-threads: shared memory, atomics, a rayon pool
          of Web Workers) with the pinned nightly toolchain; Trunk runs it after each build
          (Trunk.toml), into its staging folder; else into dist/ or DIR
  test    install what is missing, then run the native tests, replay the fuzz corpora, build
          the page and run the browser tests in headless Chromium
          --long: then the soaks too (page and CLI, TRIPLETLAB_SOAK_MINUTES each, default 30)
  bench   training and inference speed natively (flex, wgpu) and in the page (CPU, WebGPU),
          the bytes a first visit transfers: a table, and target/bench/bench.json
  bench quality [--data DIR] [--shards N] [--epochs N] [--seeds N] [--held-out F] [--set KEY=VALUE]...
          the recipe once per seed (default: 3 seeds, 3 epochs, a synthetic set of 2,000
          images, 20% held out): held-out loss per epoch, AUC with DeLong's 95% interval, the
          spread over seeds; and the tutorial's Keras code on the same data when a Python
          with TensorFlow is found (TRIPLETLAB_PYTHON, else python3)
  bench demo [--data DIR] [--seeds N]
          the class demo ('Try it', preset=demo) by the CLI once per seed (default 3, on the
          synthetic set of 2,000 images): held-out AUC and precision@1 before and after, seconds
  bench pictures [--pictures N] [--small]
          your own pictures in the page: N (default 1,000) mixed JPEG/PNG pictures of varied sizes
          (--small: none past 1024 x 768) chosen as a folder; seconds to a ready dataset and the
          browser's peak memory
  soak    page [--webgpu] | cli: one soak of `test --long` alone (the page soak needs a built
          dist/); --webgpu: the page on WebGPU (SwiftShader), the GPU process's memory too
  fuzz    every cargo-fuzz target for --seconds N each (default 60), corpora minimised, a
          table of inputs run and crashes (nightly and cargo-fuzz installed when missing)
  mutants [FILE ...]
          mutation testing of the numeric core (cargo-mutants, installed when missing): the
          mutants its unit and reference tests catch and miss (default: the loss, the
          schedule, the metrics, mining, random numbers; one rebuild of the core a mutant)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("serve") => serve(),
        Some("test") => match &args[1..] {
            [] => suite::test_all(false),
            [flag] if flag == "--long" => suite::test_all(true),
            _ => Err(Failure::new(format!("usage: cargo xtask test [--long]\n\n{USAGE}"))),
        },
        Some("site") => site::site(&run::repo_root(), &args[1..]),
        Some("fuzz") => fuzz::fuzz(&run::repo_root(), &args[1..]),
        Some("threads-worker") => threads::threads_worker(&run::repo_root(), &args[1..]),
        Some("mutants") => mutants::mutants(&run::repo_root(), &args[1..]),
        Some("soak") => {
            let root = run::repo_root();
            match args.get(1).map(String::as_str) {
                Some("page") if args.get(2).is_none() => soak::page(&root),
                Some("page") if args.get(2).map(String::as_str) == Some("--webgpu") && args.len() == 3 => {
                    soak::page_webgpu(&root)
                }
                Some("cli") => soak::cli(&root),
                _ => Err(Failure::new(
                    "usage: cargo xtask soak page [--webgpu] | cli (the page soak needs a built dist/)",
                )),
            }
        }
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("quality") => quality::bench_quality(&run::repo_root(), &args[2..]),
            Some("demo") => quality::bench_demo(&run::repo_root(), &args[2..]),
            Some("pictures") => bench::pictures(&run::repo_root(), &args[2..]),
            None => bench::bench(&run::repo_root()),
            Some(other) => Err(Failure::new(format!("unknown benchmark '{other}'\n\n{USAGE}"))),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Failure::new(format!("unknown command '{other}'\n\n{USAGE}"))),
        None => Err(Failure::new(USAGE)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("xtask: {failure}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> Result<(), Failure> {
    let root = run::repo_root();
    tools::ensure_web_tools(&root)?;
    data::prepare_for_serving(&root, &root.join(data::PUBLIC_DATA))?;
    println!("xtask: serving on http://127.0.0.1:8080 (Ctrl-C stops)");
    // No autoreload: its inline script would be refused by the page's Content-Security-Policy.
    run::status(run::command("trunk", &root).args(["serve", "--no-autoreload"]))
}
