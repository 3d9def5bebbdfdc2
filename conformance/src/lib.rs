//! Black-box conformance harness.
