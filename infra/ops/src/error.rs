//! How a command ends: an [`Outcome`] when it ran, a [`CliError`] when it could not; each knows
//! its exit code.

use std::process::ExitCode;

/// What every command returns.
pub type CliResult = Result<Outcome, CliError>;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything it did or checked was fine: exit 0.
    Success,
    /// It ran, but something failed, is unhealthy or was not confirmed (already reported on the
    /// way): exit 1.
    Failure,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Self::Success => ExitCode::SUCCESS,
            Self::Failure => ExitCode::FAILURE,
        }
    }
}

impl From<bool> for Outcome {
    fn from(ok: bool) -> Self {
        if ok {
            Self::Success
        } else {
            Self::Failure
        }
    }
}

/// Why a command could not run. `main` prints it (with `--json` also as `{"ok": false, "error"}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// An argument value the parser let through that the command refuses: a window that ends
    /// before it starts, an unknown `--event`, a `--to` that is no S3 place, …
    #[error("{0}")]
    Usage(String),
    /// Anything else that stopped it: the stack, Retell, AWS, a file.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// Exit 1 for both: clap's own usage errors exit 2, but these have always exited 1 and
    /// scripts may test for it.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) | Self::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_owned())
    }
}

/// Any error as the message a command reports.
pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
