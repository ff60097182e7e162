//! Everything that can stop a command, with messages a user can act on.

use std::path::PathBuf;

use tripletlab_core::data::DataError;
use tripletlab_core::model::weights::WeightsError;
use tripletlab_core::selfcheck::SelfCheckError;
use tripletlab_core::train::TrainError;

use crate::backend::BackendError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    SelfCheck(#[from] SelfCheckError),
    #[error("{0} computed a wrong matrix product: do not train on it")]
    WrongAnswer(&'static str),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Source(String),
    /// Settings that cannot make a run (out of range, or contradicting each other).
    #[error("{0}")]
    Usage(String),
    #[error("downloading {url} failed: {reason}")]
    Download { url: String, reason: String },
}

impl CliError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
