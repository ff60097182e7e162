//! `cargo xtask test`: every test the project has, in one command.

use std::time::Instant;

use crate::run::{self, Failure, command};
use crate::{data, site, soak, tools};

/// Install what is missing, then run: native tests (core and CLI on flex, plus the lavapipe wgpu
/// tests), the replay of the fuzz corpora, the page's Trunk build, and the browser end-to-end
/// tests; with `long`, the page and CLI soaks after them. Every stage runs even if an earlier one
/// failed (the browser tests need the build); the summary says which failed.
pub fn test_all(long: bool) -> Result<(), Failure> {
    let root = run::repo_root();
    tools::ensure_web_tools(&root)?;
    tools::ensure_test_tools(&root)?;

    let mut results: Vec<(&str, Result<(), Failure>, f64)> = Vec::new();
    let mut stage = |name: &'static str, step: &mut dyn FnMut() -> Result<(), Failure>| {
        let started = Instant::now();
        let outcome = step();
        let ok = outcome.is_ok();
        results.push((name, outcome, started.elapsed().as_secs_f64()));
        ok
    };

    stage("native tests (core, protocol, engine's events, CLI, xtask)", &mut || {
        run::status(command("cargo", &root).args([
            "test",
            "-p",
            "tripletlab-core",
            "-p",
            "tripletlab-protocol",
            "-p",
            "tripletlab-engine",
            "-p",
            "tripletlab-cli",
            "-p",
            "xtask",
            "--",
            "--include-ignored",
        ]))
    });
    stage("fuzz corpora and regressions, replayed (stable)", &mut || {
        run::status(command("cargo", &root).args(["test", "--manifest-path", "fuzz/Cargo.toml", "--", "--nocapture"]))
    });
    let built = stage("page build (trunk build --release, test data)", &mut || {
        run::status(command("trunk", &root).args(["build", "--release"]))?;
        // A tiny synthetic dataset for the browser tests, served from the build only.
        data::prepare_synthetic(&root, "dist/public/data/synthetic-shapes", 2, 200)?;
        // A checkpoint made by the native CLI, for the page's import test.
        data::cli_checkpoint(&root, "dist/public/data/synthetic-shapes", "dist/e2e/cli.checkpoint.safetensors")?;
        // The recipe's run a browser test makes, trained natively, to compare their losses.
        data::cli_recipe_run(&root, "dist/public/data/synthetic-shapes", "dist/e2e/cli-recipe.report.json")?;
        // The WebGPU test's tiny run on both native backends: the spread its numbers are held to.
        data::cli_tiny_backends(&root, "dist/public/data/synthetic-shapes", "dist/e2e/cli-tiny-")?;
        // The same build as a hosted site, for the sub-path and offline tests.
        site::assemble(&root, &root.join("dist/e2e/site")).map(|_| ())
    });
    if built {
        stage("browser tests (headless Chromium)", &mut || {
            run::status(command("npm", &root.join("tests")).args(["test", "--silent"]))
        });
        if long {
            stage("soak: the page on the CPU", &mut || soak::page(&root));
        }
    }
    if long {
        stage("soak: the native CLI", &mut || soak::cli(&root));
    }

    println!("\nxtask test summary:");
    let mut failed = 0;
    for (name, outcome, seconds) in &results {
        match outcome {
            Ok(()) => println!("  ok      {name} ({seconds:.0} s)"),
            Err(err) => {
                failed += 1;
                println!("  FAILED  {name} ({seconds:.0} s): {err}");
            }
        }
    }
    if !built {
        println!("  SKIPPED browser tests (headless Chromium): the page did not build");
    }
    if failed == 0 && built {
        println!("xtask test: all {} stages passed", results.len());
        Ok(())
    } else {
        Err(Failure::new("some stages failed (see the summary above)"))
    }
}
