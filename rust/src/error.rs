//! Typed errors with stable numeric codes, and the thread-local last error.
//!
//! The codes are part of the C ABI and of the Python exception hierarchy: a code is
//! never renumbered or reused; new codes are appended.

use std::cell::RefCell;
use std::ffi::CStr;

/// Stable status codes. Mirrored as `VPACK_*` constants in `lib.rs` (and so in the header).
pub mod code {
    pub(crate) const OK: i32 = 0;
    pub(crate) const NULL_ARG: i32 = 1;
    pub(crate) const INVALID_ARG: i32 = 2;
    pub(crate) const INVALID_JSON: i32 = 3;
    pub(crate) const INVALID_UTF8: i32 = 4;
    pub(crate) const DIMENSION_MISMATCH: i32 = 5;
    pub(crate) const IO: i32 = 6;
    pub(crate) const CORRUPT: i32 = 7;
    pub(crate) const UNSUPPORTED_VERSION: i32 = 8;
    pub(crate) const MODEL: i32 = 9;
    pub(crate) const LIMIT: i32 = 10;
    pub(crate) const PANIC: i32 = 11;
    pub(crate) const NOT_FOUND: i32 = 12;
    pub(crate) const RUNTIME: i32 = 13;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} is NULL")]
    NullArg(&'static str),
    #[error("{0}")]
    InvalidArg(String),
    #[error("invalid JSON in {what}: {source}")]
    InvalidJson {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// Well-formed JSON of the wrong shape: not an object, a field of the wrong JSON
    /// type, an unknown key.
    #[error("invalid JSON: {0}")]
    JsonShape(String),
    #[error("{0} is not valid UTF-8")]
    InvalidUtf8(String),
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch { expected: usize, got: usize },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt pack: {0}")]
    Corrupt(String),
    #[error("unsupported pack format version {found:#04x} (this library reads {supported:#04x})")]
    UnsupportedVersion { found: u8, supported: u8 },
    /// A well-formed pack that uses a feature this library does not have (a section
    /// kind from a newer writer).
    #[error("unsupported pack feature: {0}")]
    UnsupportedFeature(String),
    #[error("{0}")]
    Model(String),
    #[error("limit exceeded: {0}")]
    Limit(String),
    #[error("panic in vpack: {0}")]
    Panic(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Runtime(String),
    /// Another error with where it happened (e.g. which shard of a pack set); keeps the
    /// inner error's code.
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::NullArg(_) => code::NULL_ARG,
            Error::InvalidArg(_) => code::INVALID_ARG,
            Error::InvalidJson { .. } | Error::JsonShape(_) => code::INVALID_JSON,
            Error::InvalidUtf8(_) => code::INVALID_UTF8,
            Error::DimensionMismatch { .. } => code::DIMENSION_MISMATCH,
            Error::Io { .. } => code::IO,
            Error::Corrupt(_) => code::CORRUPT,
            Error::UnsupportedVersion { .. } | Error::UnsupportedFeature(_) => {
                code::UNSUPPORTED_VERSION
            }
            Error::Model(_) => code::MODEL,
            Error::Limit(_) => code::LIMIT,
            Error::Panic(_) => code::PANIC,
            Error::NotFound(_) => code::NOT_FOUND,
            Error::Runtime(_) => code::RUNTIME,
            Error::Context { source, .. } => source.code(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// This error, prefixed with `context` (its code unchanged).
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    pub fn json(what: &'static str, source: serde_json::Error) -> Self {
        Error::InvalidJson { what, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Short, static description of a status code (like `sqlite3_errstr`).
pub fn describe(status: i32) -> &'static CStr {
    match status {
        code::OK => c"ok",
        code::NULL_ARG => c"a required pointer argument is NULL",
        code::INVALID_ARG => c"invalid argument",
        code::INVALID_JSON => c"invalid JSON",
        code::INVALID_UTF8 => c"invalid UTF-8",
        code::DIMENSION_MISMATCH => c"vector dimension mismatch",
        code::IO => c"I/O error",
        code::CORRUPT => c"corrupt pack",
        code::UNSUPPORTED_VERSION => c"unsupported pack format version",
        code::MODEL => c"embedding model unavailable or failed",
        code::LIMIT => c"limit exceeded",
        code::PANIC => c"internal panic (a bug in vpack)",
        code::NOT_FOUND => c"not found",
        code::RUNTIME => c"ONNX Runtime unavailable or incompatible",
        _ => c"unknown status code",
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<(i32, String)>> = const { RefCell::new(None) };
}

/// Records `err` as this thread's last error and returns its code.
pub fn set_last_error(err: &Error) -> i32 {
    let status = err.code();
    let message = err.to_string();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some((status, message)));
    status
}

pub fn clear_last_error() {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = None);
}

/// The last error as `CODE|message`, or an empty string when the last call succeeded.
pub fn last_error_text() -> String {
    LAST_ERROR.with(|slot| match &*slot.borrow() {
        Some((status, message)) => format!("{status}|{message}"),
        None => String::new(),
    })
}

pub fn last_error_code() -> i32 {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(code::OK, |(s, _)| *s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_error_round_trip() {
        clear_last_error();
        assert_eq!(last_error_text(), "");
        let status = set_last_error(&Error::DimensionMismatch {
            expected: 3,
            got: 4,
        });
        assert_eq!(status, code::DIMENSION_MISMATCH);
        assert_eq!(last_error_text(), "5|dimension mismatch: expected 3, got 4");
        assert_eq!(last_error_code(), 5);
        clear_last_error();
        assert_eq!(last_error_code(), code::OK);
    }

    #[test]
    fn every_code_has_a_description() {
        for c in 0..=code::RUNTIME {
            assert_ne!(describe(c), c"unknown status code", "code {c}");
        }
        assert_eq!(describe(1000), c"unknown status code");
    }
}
