//! `-info`: containerd 2.x asks a shim what it is and what its runtime
//! supports before using it. The answer is a `containerd.types.RuntimeInfo`
//! on stdout, with the runtime's own `features` JSON inside.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::types::introspection::{RuntimeInfo, RuntimeVersion};

use crate::options;

/// The runtime spec's features document, as containerd's typeurl names it.
const FEATURES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

pub fn print() -> Result<(), String> {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let given = (!input.is_empty())
        .then(|| Any::parse_from_bytes(&input).ok())
        .flatten();
    let opts = options::decode(given.as_ref()).map_err(|e| e.to_string())?;
    let binary = if opts.binary_name.is_empty() {
        "berth".to_string()
    } else {
        opts.binary_name.clone()
    };
    let out = Command::new(&binary)
        .arg("features")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("run {binary} features: {e}"))?;
    if !out.status.success() {
        return Err(format!("{binary} features: {}", out.status));
    }
    let mut features = Any::new();
    features.type_url = FEATURES_TYPE.into();
    features.value = out.stdout;
    let info = RuntimeInfo {
        name: crate::RUNTIME_ID.into(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }),
        options: given.into(),
        features: MessageField::some(features),
        ..Default::default()
    };
    let bytes = info.write_to_bytes().map_err(|e| e.to_string())?;
    std::io::stdout()
        .write_all(&bytes)
        .map_err(|e| format!("write stdout: {e}"))
}
