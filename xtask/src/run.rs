//! Running programs, with errors that say which step failed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A step that failed, with a message for the developer.
#[derive(Debug)]
pub struct Failure(String);

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// For `map_err`: an error met at `path`, said as "PATH: error".
    pub fn at<E: fmt::Display>(path: impl AsRef<Path>) -> impl FnOnce(E) -> Self {
        let shown = path.as_ref().display().to_string();
        move |err| Self(format!("{shown}: {err}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repository root (the workspace holding `xtask/`), from `cargo run`'s environment at run
/// time: a build-time path would name whichever checkout last built this binary when several
/// checkouts share a target directory.
pub fn repo_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok().map(|dir| dir.join("xtask")))
        .unwrap_or_else(|| PathBuf::from("xtask"));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or(manifest_dir)
}

/// `program` to be run in `dir`.
pub fn command(program: &str, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    command
}

/// Run to completion with inherited output; a non-zero exit is a [`Failure`].
pub fn status(command: &mut Command) -> Result<(), Failure> {
    let shown = show(command);
    println!("xtask: $ {shown}");
    let status = command.status().map_err(|err| Failure::new(format!("could not start `{shown}`: {err}")))?;
    if status.success() { Ok(()) } else { Err(Failure::new(format!("`{shown}` failed ({status})"))) }
}

/// Run and capture stdout; `None` when the program is missing or fails.
pub fn stdout_of(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Run and capture stdout as bytes; `None` when the program is missing or fails.
pub fn stdout_bytes(command: &mut Command) -> Option<Vec<u8>> {
    let output = command.output().ok()?;
    output.status.success().then_some(output.stdout)
}

fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
