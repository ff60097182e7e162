//! Every input in the fuzz corpora (`corpus/<target>/`) and every crash ever found
//! (`regressions/<target>/`) goes through its target's check again, on stable, in
//! `cargo xtask test`. A crash file stays here once fixed, so the bug cannot come back.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn corpora_and_regressions_pass_their_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for target in tripletlab_fuzz::TARGETS {
        let corpus = inputs(&root.join("corpus").join(target));
        let regressions = inputs(&root.join("regressions").join(target));
        assert!(!corpus.is_empty(), "{target} has no corpus (run `cargo run --example seeds` in fuzz/)");
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("a corpus file");
            assert!(tripletlab_fuzz::check(target, &data), "{target} is a target");
        }
        println!("{target}: {} corpus inputs, {} regressions", corpus.len(), regressions.len());
        total += corpus.len() + regressions.len();
    }
    println!("{total} inputs replayed");
}
