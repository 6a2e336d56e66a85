//! One error type for the whole tool: what failed, the details a user needs to see (an
//! installer's log tail, the offending paths), what to do about it, and which exit code it maps to.

use std::fmt;
use std::io;
use std::path::Path;

/// Exit codes, documented in `fclayer --help`.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    /// The build ran and failed: installer error, layer rejected by a check, timeout.
    pub const BUILD_FAILED: i32 = 1;
    /// The input was wrong: arguments, project files, paths. Nothing was built.
    pub const BAD_INPUT: i32 = 2;
    /// No Docker engine answered, or it broke off mid-run.
    pub const ENGINE: i32 = 3;
    /// Interrupted by SIGINT or SIGTERM (after cleaning up).
    pub const INTERRUPTED: i32 = 130;
}

/// What went wrong, in rising order of severity: when several layers fail, the exit code is
/// that of the most severe (an interrupt over a lost engine over a failed build over bad input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    BadInput,
    BuildFailed,
    Engine,
    Interrupted,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    /// Extra lines shown under the message (log tails, lists of files).
    pub details: Vec<String>,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    pub fn input(message: impl Into<String>) -> Error {
        Error::new(Kind::BadInput, message)
    }

    pub fn build(message: impl Into<String>) -> Error {
        Error::new(Kind::BuildFailed, message)
    }

    pub fn engine(message: impl Into<String>) -> Error {
        Error::new(Kind::Engine, message)
    }

    pub fn interrupted(signal: &str) -> Error {
        Error::new(Kind::Interrupted, format!("interrupted by {signal}"))
    }

    /// A file-system error, with the operation and the path it happened on.
    pub fn io(op: &str, path: &Path, err: io::Error) -> Error {
        let mut e = Error::new(
            Kind::BuildFailed,
            format!("cannot {op} {}: {}", path.display(), plain_io(&err)),
        );
        match err.kind() {
            io::ErrorKind::PermissionDenied => {
                e.kind = Kind::BadInput;
                e.hint = Some("check the path's permissions, or choose another path".into());
            }
            io::ErrorKind::ReadOnlyFilesystem => {
                e.kind = Kind::BadInput;
                e.hint = Some(
                    "that file system is mounted read-only: choose a path on another one".into(),
                );
            }
            io::ErrorKind::NotFound
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::NotADirectory => e.kind = Kind::BadInput,
            _ => {}
        }
        if err.raw_os_error() == Some(28) {
            e.hint = Some("the disk is full: free some space or write elsewhere".into());
        }
        e
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_details<I, S>(mut self, lines: I) -> Error
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.details.extend(lines.into_iter().map(Into::into));
        self
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::BadInput => exit::BAD_INPUT,
            Kind::BuildFailed => exit::BUILD_FAILED,
            Kind::Engine => exit::ENGINE,
            Kind::Interrupted => exit::INTERRUPTED,
        }
    }

    /// Prefix the message with where it happened, keeping kind, details and hint.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

/// `io::Error`'s Display adds "(os error N)"; users need the words, not the number.
fn plain_io(err: &io::Error) -> String {
    let s = err.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Extension to attach path and operation to `io::Result`s, the way cargo's errors read.
pub trait IoContext<T> {
    fn at(self, op: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, op: &str, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(op, path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_rank_by_severity() {
        let mut kinds = [
            Kind::Engine,
            Kind::BadInput,
            Kind::Interrupted,
            Kind::BuildFailed,
        ];
        kinds.sort();
        assert_eq!(
            kinds,
            [
                Kind::BadInput,
                Kind::BuildFailed,
                Kind::Engine,
                Kind::Interrupted
            ]
        );
    }

    #[test]
    fn io_errors_name_the_path_and_drop_the_errno() {
        let e = Error::io(
            "read",
            Path::new("/x/requirements.txt"),
            io::Error::from_raw_os_error(2),
        );
        assert_eq!(
            e.message,
            "cannot read /x/requirements.txt: No such file or directory"
        );
        assert_eq!(e.exit_code(), exit::BAD_INPUT);
        let full = Error::io("write", Path::new("/x"), io::Error::from_raw_os_error(28));
        assert_eq!(full.exit_code(), exit::BUILD_FAILED);
        assert!(full.hint.unwrap().contains("disk is full"));
    }

    #[test]
    fn permission_denied_is_bad_input_with_a_hint() {
        let e = Error::io(
            "create",
            Path::new("/ro/layer.zip"),
            io::Error::from_raw_os_error(13),
        );
        assert_eq!(e.exit_code(), exit::BAD_INPUT);
        assert!(e.hint.is_some());
    }
}
