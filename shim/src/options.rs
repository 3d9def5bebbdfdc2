//! Runtime options, as containerd sends them with a task:
//! - `containerd.runc.v1.Options` (ctr's `--runc-binary`, containerd's runc
//!   runtime configuration, Docker): decoded field by field;
//! - `runtimeoptions.v1.Options` (CRI for runtime types other than runc,
//!   ctr's `--runtime-config-path`): a TOML file or body with the same
//!   keys in runc's spelling (`BinaryName = "/usr/bin/crun"`).
//!
//! The options are kept in the bundle as `options.json`, so the `delete`
//! clean-up, which gets no request, drives the same runtime and root.

use std::path::Path;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{CodedInputStream, Message, UnknownValueRef};
use containerd_shim::protos::shim::oci::Options as RuncOptions;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::task::Options;

const OPTIONS_FILE: &str = "options.json";

pub fn decode(any: Option<&Any>) -> Result<Options> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(Options::default());
    };
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    match name {
        "containerd.runc.v1.Options" | "containerd.linux.runc.RuncOptions" => {
            let o = RuncOptions::parse_from_bytes(&any.value)
                .map_err(|e| Error::InvalidArgument(format!("runtime options {name}: {e}")))?;
            let criu_path = criu_path(&o);
            Ok(Options {
                binary_name: o.binary_name,
                root: o.root,
                systemd_cgroup: o.systemd_cgroup,
                no_pivot_root: o.no_pivot_root,
                no_new_keyring: o.no_new_keyring,
                io_uid: o.io_uid,
                io_gid: o.io_gid,
                criu_path,
                criu_work_path: o.criu_work_path,
                shim_cgroup: o.shim_cgroup,
            })
        }
        "runtimeoptions.v1.Options" => {
            let (path, body) = runtime_options(&any.value)?;
            let text = if !body.is_empty() {
                body
            } else if !path.is_empty() {
                std::fs::read_to_string(&path)
                    .map_err(Error::io(format!("read runtime config {path}")))?
            } else {
                String::new()
            };
            from_toml(&text)
        }
        other => Err(Error::InvalidArgument(format!(
            "unknown runtime options type {other:?}"
        ))),
    }
}

/// `criu_path = 8`, which containerd 1.6 sends (its runc shim passes it
/// as `--criu`) but the protos this shim is built with reserve, as
/// containerd 2.0 dropped it: it arrives as an unknown field.
fn criu_path(o: &RuncOptions) -> String {
    match o.special_fields.unknown_fields().get(8) {
        Some(UnknownValueRef::LengthDelimited(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// `runtimeoptions.v1.Options{type_url = 1, config_path = 2, config_body = 3}`.
fn runtime_options(bytes: &[u8]) -> Result<(String, String)> {
    let bad = |e: containerd_shim::protos::protobuf::Error| {
        Error::InvalidArgument(format!("runtime options runtimeoptions.v1.Options: {e}"))
    };
    let mut input = CodedInputStream::from_bytes(bytes);
    let (mut path, mut body) = (String::new(), String::new());
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(bad)? {
        match tag >> 3 {
            2 => path = input.read_string().map_err(bad)?,
            3 => {
                let raw = input.read_bytes().map_err(bad)?;
                body = String::from_utf8_lossy(&raw).into_owned();
            }
            _ => input
                .skip_field(
                    containerd_shim::protos::protobuf::rt::WireType::new(tag & 7).ok_or_else(
                        || Error::InvalidArgument("runtime options: bad wire type".into()),
                    )?,
                )
                .map_err(bad)?,
        }
    }
    Ok((path, body))
}

/// The flat `Key = value` TOML of runc's options (strings, booleans and
/// integers); tables and comments are skipped.
fn from_toml(text: &str) -> Result<Options> {
    let mut o = Options::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('[') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(Error::InvalidArgument(format!(
                "runtime config line {}: expected key = value",
                n + 1
            )));
        };
        let value = value.trim();
        let string = || value.trim_matches('"').to_string();
        let boolean = || value == "true";
        let number = || value.parse::<u32>().unwrap_or(0);
        match key.trim().trim_matches('"') {
            "BinaryName" | "binary_name" => o.binary_name = string(),
            "Root" | "root" => o.root = string(),
            "SystemdCgroup" | "systemd_cgroup" => o.systemd_cgroup = boolean(),
            "NoPivotRoot" | "no_pivot_root" => o.no_pivot_root = boolean(),
            "NoNewKeyring" | "no_new_keyring" => o.no_new_keyring = boolean(),
            "IoUid" | "io_uid" => o.io_uid = number(),
            "IoGid" | "io_gid" => o.io_gid = number(),
            "ShimCgroup" | "shim_cgroup" => o.shim_cgroup = string(),
            "CriuPath" | "criu_path" => o.criu_path = string(),
            "CriuWorkPath" | "criu_work_path" => o.criu_work_path = string(),
            _ => {}
        }
    }
    Ok(o)
}

#[derive(Serialize, Deserialize)]
struct Saved {
    binary_name: String,
    root: String,
    systemd_cgroup: bool,
}

pub fn save(bundle: &Path, o: &Options) -> Result<()> {
    let saved = Saved {
        binary_name: o.binary_name.clone(),
        root: o.root.clone(),
        systemd_cgroup: o.systemd_cgroup,
    };
    let path = bundle.join(OPTIONS_FILE);
    let json = serde_json::to_vec(&saved).expect("plain struct serializes");
    std::fs::write(&path, json).map_err(Error::io(format!("write {}", path.display())))
}

pub fn load(bundle: &Path) -> Options {
    let saved: Option<Saved> = std::fs::read(bundle.join(OPTIONS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    saved
        .map(|s| Options {
            binary_name: s.binary_name,
            root: s.root,
            systemd_cgroup: s.systemd_cgroup,
            ..Options::default()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(url: &str, value: Vec<u8>) -> Any {
        let mut a = Any::new();
        a.type_url = url.into();
        a.value = value;
        a
    }

    #[test]
    fn runc_options() {
        let mut o = RuncOptions::new();
        o.binary_name = "/usr/bin/runc".into();
        o.root = "/run/r".into();
        o.io_uid = 1000;
        o.no_pivot_root = true;
        let got = decode(Some(&any(
            "containerd.runc.v1.Options",
            o.write_to_bytes().unwrap(),
        )))
        .unwrap();
        assert_eq!(got.binary_name, "/usr/bin/runc");
        assert_eq!(got.root, "/run/r");
        assert_eq!(got.io_uid, 1000);
        assert!(got.no_pivot_root);
        assert_eq!(got.criu_path, "");
    }

    /// containerd 1.6's `criu_path` (field 8), which the protos here
    /// reserve, still comes through.
    #[test]
    fn runc_options_with_a_criu_path() {
        let mut o = RuncOptions::new();
        o.binary_name = "runc".into();
        o.criu_work_path = "/w".into();
        let mut bytes = o.write_to_bytes().unwrap();
        let path = b"/opt/criu/criu";
        bytes.extend_from_slice(&[(8 << 3) | 2, path.len() as u8]);
        bytes.extend_from_slice(path);
        let got = decode(Some(&any("containerd.runc.v1.Options", bytes))).unwrap();
        assert_eq!(got.criu_path, "/opt/criu/criu");
        assert_eq!(got.criu_work_path, "/w");
        assert_eq!(got.binary_name, "runc");
    }

    #[test]
    fn runtime_options_with_a_toml_body() {
        // Field 3 (config_body), length-delimited.
        let body = b"# berth\nBinaryName = \"/usr/bin/crun\"\nSystemdCgroup = false\nIoUid = 7\nCriuPath = \"/c/criu\"\n";
        let mut bytes = vec![(3 << 3) | 2, body.len() as u8];
        bytes.extend_from_slice(body);
        let got = decode(Some(&any("runtimeoptions.v1.Options", bytes))).unwrap();
        assert_eq!(got.binary_name, "/usr/bin/crun");
        assert_eq!(got.io_uid, 7);
        assert_eq!(got.criu_path, "/c/criu");
    }

    #[test]
    fn no_options_and_unknown_types() {
        assert_eq!(decode(None).unwrap().binary_name, "");
        assert!(decode(Some(&any("example.Other", vec![]))).is_err());
    }
}
