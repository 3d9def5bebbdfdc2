//! berth: an OCI runtime.
