//! The shim's one error type. Each variant maps to the gRPC code containerd
//! turns back into its own error kinds (errdefs), so `ctr` and Docker show
//! "not found" or "failed precondition" rather than "unknown".

use std::fmt;

use containerd_shim::protos::ttrpc;

#[derive(Debug)]
pub enum Error {
    /// No such container or exec in this shim.
    NotFound(String),
    /// A container or exec that already exists.
    AlreadyExists(String),
    /// The process is in the wrong state for the request.
    FailedPrecondition(String),
    /// Bad request contents (options, specs, URIs).
    InvalidArgument(String),
    /// A request this shim does not implement.
    Unimplemented(String),
    /// A runtime command failed; `message` is the runtime's own error.
    Runtime { command: String, message: String },
    /// A system call or file operation of the shim itself failed.
    Io {
        context: String,
        err: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |err| Error::Io { context, err }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::FailedPrecondition(m)
            | Error::InvalidArgument(m)
            | Error::Unimplemented(m) => f.write_str(m),
            Error::Runtime { command, message } => write!(f, "{command} failed: {message}"),
            Error::Io { context, err } => write!(f, "{context}: {err}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for ttrpc::Error {
    fn from(e: Error) -> Self {
        use ttrpc::Code;
        let code = match e {
            Error::NotFound(_) => Code::NOT_FOUND,
            Error::AlreadyExists(_) => Code::ALREADY_EXISTS,
            Error::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            Error::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            Error::Unimplemented(_) => Code::UNIMPLEMENTED,
            Error::Runtime { .. } | Error::Io { .. } => Code::UNKNOWN,
        };
        ttrpc::Error::RpcStatus(ttrpc::get_status(code, e.to_string()))
    }
}
