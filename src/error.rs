//! Error values: a kind that maps one-to-one onto the C status codes, a
//! message that says what was wrong, and the OS error number where one exists.

use std::fmt;
use std::io;

/// What class of failure an [`Error`] is. Each kind has a stable C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required argument was missing or malformed (NULL pointer, bad env entry).
    InvalidArgument,
    /// The runner kind is not one this library knows.
    UnknownRunner,
    /// The options or params document is malformed, has an unknown key, a
    /// value of the wrong type, or a value the runner cannot use safely.
    InvalidOptions,
    /// Something the runner needs is missing on this machine.
    Requirements,
    /// The command to run does not exist.
    CommandNotFound,
    /// The process could not be started.
    Spawn,
    /// An I/O or system call failed while running or waiting.
    Io,
    /// A deadline passed before the process finished.
    Timeout,
    /// The caller cancelled the call before the process finished.
    Canceled,
    /// A bug in this library (a caught panic, a broken invariant).
    Internal,
}

impl ErrorKind {
    /// A short lowercase name, used as the message prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::UnknownRunner => "unknown runner",
            ErrorKind::InvalidOptions => "invalid options",
            ErrorKind::Requirements => "requirements not met",
            ErrorKind::CommandNotFound => "command not found",
            ErrorKind::Spawn => "spawn failed",
            ErrorKind::Io => "i/o error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Internal => "internal error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from this library: its kind, a message naming what was wrong,
/// and the OS error number when a system call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    os_error: Option<i32>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            os_error: None,
        }
    }

    /// An error of `kind` whose cause is the I/O error `source`; the message
    /// becomes `"{context}: {source}"` and the errno is kept.
    pub fn from_io(kind: ErrorKind, context: impl fmt::Display, source: &io::Error) -> Self {
        Error {
            kind,
            message: format!("{context}: {source}"),
            os_error: source.raw_os_error(),
        }
    }

    /// An error of `kind` whose cause is the errno `errno`.
    pub fn from_errno(
        kind: ErrorKind,
        context: impl fmt::Display,
        errno: nix::errno::Errno,
    ) -> Self {
        Self::from_io(kind, context, &io::Error::from_raw_os_error(errno as i32))
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn invalid_options(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidOptions, message)
    }

    pub(crate) fn requirements(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Requirements, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What was wrong, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The OS error number (errno) behind this error, if a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.os_error
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_kind_and_message() {
        let e = Error::invalid_options("option \"x\": expected a boolean");
        assert_eq!(
            e.to_string(),
            "invalid options: option \"x\": expected a boolean"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
        assert_eq!(e.raw_os_error(), None);
    }

    #[test]
    fn io_errors_keep_errno() {
        let io = io::Error::from_raw_os_error(libc::EACCES);
        let e = Error::from_io(ErrorKind::Spawn, "starting /bin/x", &io);
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
        assert!(
            e.message().starts_with("starting /bin/x: "),
            "{}",
            e.message()
        );
    }
}
