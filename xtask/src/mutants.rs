//! `cargo xtask mutants [FILE ...] | --table | --list`: mutation testing of the numeric core with
//! cargo-mutants (installed at a pinned version when missing), and the table in
//! `docs/reliability.md` made from its kept results.
//!
//! Each mutant (an operator swapped, a function's body replaced by a constant, a condition
//! forced) is built and the tests that cover its file are run against it; a mutant no test fails
//! is *missed*: a bug the suite would not catch, unless it is the same function as the original
//! (an *equivalent* mutant, each written down with its reason in `docs/mutants/equivalent.txt`).
//!
//! The set is run in shards, one source file a shard, because the whole set (about a thousand
//! mutants, one rebuild of the core each) takes hours on two cores. Each shard's outcome, every
//! mutant with its verdict, is kept in `docs/mutants/<file>.txt` with the source's git hash, so
//! the table always covers every shard, says which ones ran on a source that has changed since,
//! and can be made again without running anything (`--table`). Without files the command runs
//! the shards that have no result yet or whose source changed.

use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::run::{self, Failure, command, stdout_of};

const CARGO_MUTANTS_VERSION: &str = "27.1.0";
const RESULTS: &str = "docs/mutants";
/// Where the mutants are built (default `target/mutants/build` in the checkout); nothing else may
/// build there while a run is under way.
const TARGET_ENV: &str = "TRIPLETLAB_MUTANTS_TARGET";
const EQUIVALENT: &str = "docs/mutants/equivalent.txt";
const TABLE_DOC: &str = "docs/reliability.md";
const TABLE_BEGIN: &str = "<!-- mutants table: made by `cargo xtask mutants --table`; do not edit by hand -->";
const TABLE_END: &str = "<!-- end of mutants table -->";

/// Tests of the host-side numeric code: the unit tests and the scikit-learn / numpy fixtures.
const HOST_TESTS: &[&str] = &["--lib", "--test", "metrics_reference", "--test", "delong_reference"];
/// Tests of the code that computes with burn: the unit tests, the Keras fixtures and the
/// gradient checks (the long training tests, minutes each, are left to `cargo xtask test`).
const TENSOR_TESTS: &[&str] = &["--lib", "--test", "keras_parity", "--test", "gradients"];
/// Tests of the trainer (`train/`): the unit tests, the two-step Keras training fixture, the
/// checkpoint fuzzing and the training tests but the two that train for a minute or more each
/// ([`LONG_TRAINING_SKIPPED`]; about 50 s a mutant that survives, instead of two minutes).
/// Keras' forward fixtures and the gradient checks (`keras_parity`, `gradients`) are left out:
/// they never reach `train/` (neither imports it), so they cannot catch a mutant there.
const TRAINER_TESTS: &[&str] =
    &["--lib", "--test", "keras_training_parity", "--test", "fuzz_readers", "--test", "training"];
/// `train/evaluate.rs` (held-out loss, templates, scores, retrieval): the trainer's tests but the
/// checkpoint fuzzing, which resumes and steps but never evaluates.
const EVALUATE_TESTS: &[&str] = &["--lib", "--test", "keras_training_parity", "--test", "training"];
/// The two training tests that train for a minute or more, left to `cargo xtask test`.
const LONG_TRAINING_SKIPPED: &[&str] =
    &["--", "--skip", "learns_the_synthetic_shapes", "--skip", "semi_hard_mining_learns"];
/// Our CPU kernels' own tests (hand-worked answers); `crates/core/tests/cpu_ops.rs` compares
/// them with burn as well, from the core's side.
const KERNEL_TESTS: &[&str] = &["--lib"];

/// What a shard's file needs to build, which decides its package and tests.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Host code of the core: built without the `tensors` feature (no burn), which makes a
    /// mutant's rebuild several times cheaper.
    Host,
    /// Core code that computes with burn.
    Tensors,
    /// The trainer, `train/`: compiled only with the `tensors` feature (without it every mutant
    /// would pass for missed).
    Trainer,
    /// `train/evaluate.rs`: the trainer's, with fewer tests ([`EVALUATE_TESTS`]).
    Evaluate,
    /// `crates/kernels`: plain loops, no burn.
    Kernels,
}

/// One shard: a source file and the tests that cover it.
struct Shard {
    file: &'static str,
    kind: Kind,
}

impl Shard {
    const fn host(file: &'static str) -> Self {
        Self { file, kind: Kind::Host }
    }
    const fn tensors(file: &'static str) -> Self {
        Self { file, kind: Kind::Tensors }
    }
    const fn trainer(file: &'static str) -> Self {
        Self { file, kind: Kind::Trainer }
    }
    const fn kernels(file: &'static str) -> Self {
        Self { file, kind: Kind::Kernels }
    }
    fn tests(&self) -> Vec<&'static str> {
        match self.kind {
            Kind::Host => HOST_TESTS.to_vec(),
            Kind::Tensors => TENSOR_TESTS.to_vec(),
            Kind::Trainer => [TRAINER_TESTS, LONG_TRAINING_SKIPPED].concat(),
            Kind::Evaluate => [EVALUATE_TESTS, LONG_TRAINING_SKIPPED].concat(),
            Kind::Kernels => KERNEL_TESTS.to_vec(),
        }
    }
    fn package(&self) -> &'static str {
        if self.kind == Kind::Kernels { "tripletlab-kernels" } else { "tripletlab-core" }
    }
    /// `crates/core/src/metrics/verification.rs` -> `metrics-verification`;
    /// `crates/kernels/src/depthwise.rs` -> `kernels-depthwise`.
    fn slug(&self) -> String {
        let file = match self.file.strip_prefix("crates/core/src/") {
            Some(inside_core) => inside_core.to_string(),
            None => self.file.trim_start_matches("crates/").replacen("/src/", "/", 1),
        };
        file.trim_end_matches(".rs").replace('/', "-")
    }
    fn result_path(&self, root: &Path) -> std::path::PathBuf {
        root.join(RESULTS).join(format!("{}.txt", self.slug()))
    }
}

/// The numeric heart: the loss, the optimizer, the trainer, mining, the metrics, the triplets,
/// the run's queries and our CPU kernels (the depthwise convolution, ReLU6).
const SHARDS: &[Shard] = &[
    Shard::host("crates/core/src/loss/mod.rs"),
    Shard::tensors("crates/core/src/loss/tensors.rs"),
    Shard::tensors("crates/core/src/optim/keras_adam.rs"),
    Shard::trainer("crates/core/src/train/checkpoint.rs"),
    Shard { file: "crates/core/src/train/evaluate.rs", kind: Kind::Evaluate },
    Shard::trainer("crates/core/src/train/launches.rs"),
    Shard::trainer("crates/core/src/train/mod.rs"),
    Shard::trainer("crates/core/src/train/run_loop.rs"),
    Shard::trainer("crates/core/src/train/schedule.rs"),
    Shard::trainer("crates/core/src/train/step.rs"),
    Shard::host("crates/core/src/mining.rs"),
    Shard::host("crates/core/src/metrics/atlas.rs"),
    Shard::host("crates/core/src/metrics/auc_interval.rs"),
    Shard::host("crates/core/src/metrics/retrieval.rs"),
    Shard::host("crates/core/src/metrics/verification.rs"),
    Shard::host("crates/core/src/data/triplets.rs"),
    Shard::host("crates/core/src/run/query.rs"),
    Shard::kernels("crates/kernels/src/depthwise.rs"),
    Shard::kernels("crates/kernels/src/relu6.rs"),
    Shard::kernels("crates/kernels/src/lib.rs"),
];

const OUTCOMES: [&str; 4] = ["caught", "missed", "timeout", "unviable"];

pub fn mutants(root: &Path, args: &[String]) -> Result<(), Failure> {
    const USAGE: &str = "usage: cargo xtask mutants [FILE ...] | --table | --list";
    match args {
        [flag] if flag == "--table" => return write_table(root),
        [flag] if flag == "--list" => {
            for shard in SHARDS {
                println!("{:<48} {}", shard.file, state(root, shard)?.describe());
            }
            return Ok(());
        }
        _ if args.iter().any(|arg| arg.starts_with('-')) => return Err(Failure::new(USAGE)),
        _ => {}
    }
    let chosen: Vec<&Shard> = if args.is_empty() {
        let mut pending = Vec::new();
        for shard in SHARDS {
            if !matches!(state(root, shard)?, State::Current) {
                pending.push(shard);
            }
        }
        pending
    } else {
        args.iter()
            .map(|arg| {
                SHARDS.iter().find(|shard| shard.file == arg.trim_start_matches("./")).ok_or_else(|| {
                    let known: Vec<&str> = SHARDS.iter().map(|shard| shard.file).collect();
                    Failure::new(format!("{arg} is not one of the shards:\n  {}", known.join("\n  ")))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        println!("every shard has a result for its current source; the table:");
        return write_table(root);
    }
    ensure_cargo_mutants(root)?;
    for shard in chosen {
        run_shard(root, shard)?;
        // The table after every shard, so a long run stopped half-way keeps what it found.
        write_table(root)?;
    }
    Ok(())
}

fn run_shard(root: &Path, shard: &Shard) -> Result<(), Failure> {
    let out = root.join("target/mutants").join(shard.slug());
    fs::create_dir_all(&out).map_err(Failure::at(&out))?;
    // A report left by an earlier run must not pass for this one's.
    let report = out.join("mutants.out");
    if report.exists() {
        fs::remove_dir_all(&report).map_err(Failure::at(&report))?;
    }
    let source_hash = git_hash(root, shard.file)?;
    let mut cmd = command("cargo", root);
    // A target directory of its own: cargo names a workspace's artifacts alike in every checkout,
    // so a build of another checkout in a shared target directory can replace a mutant's test
    // binary between its build and its run (seen: mutants reported missed that the tests catch).
    let build =
        std::env::var_os(TARGET_ENV).map_or_else(|| root.join("target/mutants/build"), std::path::PathBuf::from);
    cmd.env("CARGO_TARGET_DIR", &build);
    cmd.args(["mutants", "--package", shard.package(), "--jobs", "1", "--no-shuffle", "--file", shard.file]);
    // Fixed time limits, not ones scaled from the baseline's time: a mutant whose tests run out of
    // time counts as caught, so a machine busy with something else must never be taken for a
    // loop made endless. The trainer's tests take 45-75 s (baseline, alone and beside a CI run);
    // 900 s cost a quarter of an hour for each loop made endless (`is_finished` forced false).
    cmd.args(["--timeout", "300", "--build-timeout", "1200"]);
    if shard.kind == Kind::Host {
        cmd.arg("--no-default-features");
    }
    for arg in shard.tests() {
        cmd.arg(format!("--cargo-test-arg={arg}"));
    }
    cmd.arg("--output").arg(&out);
    let started = Instant::now();
    // cargo-mutants exits non-zero when a mutant is missed: the report below is the result, and
    // only a run that wrote none (a usage error, a baseline that failed) is a failure.
    let ran = run::status(&mut cmd);
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let outcomes = report.join("outcomes.json");
    if !outcomes.is_file() {
        return Err(ran.err().unwrap_or_else(|| Failure::new("cargo mutants wrote no report")));
    }
    // cargo-mutants writes its report as it goes and its end time only when every mutant ran: a
    // run stopped half-way is not a shard's result (seen: one was kept as if complete).
    let finished = fs::read_to_string(&outcomes)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|json| json.get("end_time").is_some_and(|end| !end.is_null()));
    if !finished {
        return Err(Failure::new(format!(
            "{}: the run did not finish (no end time in its report); nothing kept",
            shard.file
        )));
    }
    let mut kept = format!(
        "# cargo xtask mutants {}\n# source {source_hash}\n# cargo-mutants {CARGO_MUTANTS_VERSION}, tests: {}{}\n# minutes {minutes:.1}\n",
        shard.file,
        shard.tests().join(" "),
        if shard.kind == Kind::Host { " (--no-default-features)" } else { "" },
    );
    let mut counts = [0usize; 4];
    for (index, outcome) in OUTCOMES.iter().enumerate() {
        let listed = fs::read_to_string(report.join(format!("{outcome}.txt"))).unwrap_or_default();
        for line in listed.lines().filter(|line| !line.trim().is_empty()) {
            counts[index] += 1;
            kept.push_str(&format!("{outcome} {line}\n"));
        }
    }
    if counts[0] + counts[2] == 0 && counts[1] > 0 {
        return Err(Failure::new(format!(
            "{}: every mutant missed and none caught: the tests cannot see this file as built (is it compiled \
             without the tensors feature?); nothing kept",
            shard.file
        )));
    }
    let path = shard.result_path(root);
    fs::create_dir_all(root.join(RESULTS)).map_err(Failure::at(root.join(RESULTS)))?;
    fs::write(&path, kept).map_err(Failure::at(&path))?;
    println!(
        "\n{}: {} caught, {} missed, {} timed out, {} unviable (did not build), {minutes:.1} minutes; kept in {}",
        shard.file,
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        path.display()
    );
    Ok(())
}

/// A shard's kept result, read back.
struct Kept {
    source_hash: String,
    minutes: f64,
    /// (outcome, mutant as cargo-mutants names it: `file:line:col: description`)
    mutants: Vec<(String, String)>,
}

fn read_kept(path: &Path) -> Result<Option<Kept>, Failure> {
    let Ok(text) = fs::read_to_string(path) else { return Ok(None) };
    let mut kept = Kept { source_hash: String::new(), minutes: 0.0, mutants: Vec::new() };
    for line in text.lines() {
        if let Some(hash) = line.strip_prefix("# source ") {
            kept.source_hash = hash.trim().to_owned();
        } else if let Some(minutes) = line.strip_prefix("# minutes ") {
            kept.minutes = minutes.trim().parse().unwrap_or(0.0);
        } else if let Some((outcome, mutant)) = line.split_once(' ')
            && OUTCOMES.contains(&outcome)
        {
            kept.mutants.push((outcome.to_owned(), mutant.to_owned()));
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            return Err(Failure::new(format!("{}: a line that is not a mutant's outcome: {line}", path.display())));
        }
    }
    Ok(Some(kept))
}

enum State {
    NotRun,
    Changed(Kept),
    Current,
}

impl State {
    fn describe(&self) -> &'static str {
        match self {
            State::NotRun => "not run yet",
            State::Changed(_) => "run on an older source (changed since)",
            State::Current => "run on the current source",
        }
    }
}

fn state(root: &Path, shard: &Shard) -> Result<State, Failure> {
    Ok(match read_kept(&shard.result_path(root))? {
        None => State::NotRun,
        Some(kept) if kept.source_hash == git_hash(root, shard.file)? => State::Current,
        Some(kept) => State::Changed(kept),
    })
}

/// The git blob hash of a file as it is now (committed or not).
fn git_hash(root: &Path, file: &str) -> Result<String, Failure> {
    stdout_of(command("git", root).args(["hash-object", file]))
        .map(|hash| hash.trim().to_owned())
        .ok_or_else(|| Failure::new(format!("git hash-object {file} failed")))
}

/// `docs/mutants/equivalent.txt`: a mutant's name as cargo-mutants gives it (with its line and
/// column, since one function often holds the same mutation at several places) on one line, its
/// reason on the next, starting `why:`. An edit that moves the line makes the shard's result
/// stale anyway; its re-run lists the mutant as missed until its entry is moved with it.
fn read_equivalent(root: &Path) -> Result<Vec<(String, String)>, Failure> {
    let path = root.join(EQUIVALENT);
    let text = fs::read_to_string(&path).map_err(Failure::at(&path))?;
    let mut reasons = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        match (line.strip_prefix("why:"), pending.take()) {
            (Some(why), Some(mutant)) => reasons.push((mutant, why.trim().to_owned())),
            (None, None) => pending = Some(line.to_owned()),
            _ => {
                return Err(Failure::new(format!(
                    "{}: expected a mutant then its `why:` line, at: {line}",
                    path.display()
                )));
            }
        }
    }
    if let Some(mutant) = pending {
        return Err(Failure::new(format!("{}: {mutant} has no `why:` line", path.display())));
    }
    Ok(reasons)
}

fn write_table(root: &Path) -> Result<(), Failure> {
    let equivalent = read_equivalent(root)?;
    let mut table = String::from(
        "| file | mutants | caught | missed (equivalent) | timed out | unviable | caught of viable | caught or equivalent | minutes | source |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut missed_list = String::new();
    let mut totals = [0usize; 5];
    for shard in SHARDS {
        let (kept, source) = match state(root, shard)? {
            State::NotRun => {
                table.push_str(&format!("| `{}` | not run yet | | | | | | | | |\n", shard.file));
                continue;
            }
            State::Changed(kept) => (kept, "changed since"),
            State::Current => {
                (read_kept(&shard.result_path(root))?.ok_or_else(|| Failure::new("result vanished"))?, "current")
            }
        };
        let count = |outcome: &str| kept.mutants.iter().filter(|(o, _)| o == outcome).count();
        let (caught, missed, timeout, unviable) =
            (count("caught"), count("missed"), count("timeout"), count("unviable"));
        let mut explained = 0;
        for (_, mutant) in kept.mutants.iter().filter(|(o, _)| o == "missed") {
            match equivalent.iter().find(|(name, _)| name == mutant) {
                Some((_, why)) => {
                    explained += 1;
                    missed_list.push_str(&format!("- `{mutant}`: equivalent: {why}\n"));
                }
                None if source == "current" => {
                    missed_list.push_str(&format!("- `{mutant}`: **missed, no test yet**\n"))
                }
                None => missed_list.push_str(&format!(
                    "- `{mutant}`: missed on the source as it was then (changed since: the shard is to be run again)\n"
                )),
            }
        }
        let viable = caught + missed + timeout;
        let percent =
            |n: usize| if viable == 0 { "-".to_owned() } else { format!("{:.0}%", 100.0 * n as f64 / viable as f64) };
        table.push_str(&format!(
            "| `{}` | {} | {caught} | {missed} ({explained}) | {timeout} | {unviable} | {} | {} | {:.0} | {source} |\n",
            shard.file,
            kept.mutants.len(),
            percent(caught + timeout),
            percent(caught + timeout + explained),
            kept.minutes,
        ));
        for (total, n) in totals.iter_mut().zip([kept.mutants.len(), caught, missed, explained, unviable]) {
            *total += n;
        }
    }
    let mut section = format!(
        "{TABLE_BEGIN}\n\n{table}\nIn all: {} mutants, {} caught, {} missed ({} of them equivalent), {} unviable. A timed-out mutant (a loop made endless) counts as caught.\n\n",
        totals[0], totals[1], totals[2], totals[3], totals[4]
    );
    if missed_list.is_empty() {
        section.push_str("Missed mutants: none.\n");
    } else {
        section.push_str("Missed mutants:\n\n");
        section.push_str(&missed_list);
    }
    section.push_str(&format!("\n{TABLE_END}"));
    let path = root.join(TABLE_DOC);
    let doc = fs::read_to_string(&path).map_err(Failure::at(&path))?;
    let (Some(begin), Some(end)) = (doc.find(TABLE_BEGIN), doc.find(TABLE_END)) else {
        return Err(Failure::new(format!("{}: the table's markers are missing", path.display())));
    };
    let updated = format!("{}{section}{}", &doc[..begin], &doc[end + TABLE_END.len()..]);
    fs::write(&path, updated).map_err(Failure::at(&path))?;
    println!("{section}");
    println!("written to {}", path.display());
    Ok(())
}

fn ensure_cargo_mutants(root: &Path) -> Result<(), Failure> {
    let installed = stdout_of(command("cargo", root).args(["mutants", "--version"]));
    if installed.as_deref().map(str::trim) != Some(&format!("cargo-mutants {CARGO_MUTANTS_VERSION}")) {
        run::status(command("cargo", root).args([
            "install",
            "cargo-mutants",
            "--version",
            CARGO_MUTANTS_VERSION,
            "--locked",
            "--force",
        ]))?;
    }
    Ok(())
}
