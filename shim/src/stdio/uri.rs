//! containerd's stdio URIs: a fifo's path, `fifo://`, `file://` and
//! `binary://` with its arguments.

use std::path::PathBuf;

use crate::error::{Error, Result};

pub(super) enum Uri {
    None,
    Fifo(PathBuf),
    File(PathBuf),
    Binary(PathBuf, Vec<(String, String)>),
}

impl Uri {
    pub(super) fn parse(s: &str) -> Result<Uri> {
        if s.is_empty() {
            return Ok(Uri::None);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Ok(Uri::Fifo(PathBuf::from(s)));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = PathBuf::from(percent_decode(path));
        if !path.is_absolute() {
            return Err(Error::InvalidArgument(format!(
                "stdio URI {s:?}: the path must be absolute"
            )));
        }
        match scheme {
            "fifo" => Ok(Uri::Fifo(path)),
            "file" => Ok(Uri::File(path)),
            "binary" => {
                let args = query
                    .split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect();
                Ok(Uri::Binary(path, args))
            }
            other => Err(Error::InvalidArgument(format!(
                "stdio URI {s:?}: unknown scheme {other:?} (fifo, file and binary are supported)"
            ))),
        }
    }
}

pub(super) fn fifo_path(s: &str) -> Result<PathBuf> {
    match Uri::parse(s)? {
        Uri::Fifo(p) => Ok(p),
        _ => Err(Error::InvalidArgument(format!(
            "stdin {s:?} must be a fifo"
        ))),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn uris() {
        assert!(matches!(Uri::parse("").unwrap(), Uri::None));
        assert!(
            matches!(Uri::parse("/run/x/stdout").unwrap(), Uri::Fifo(p) if p == Path::new("/run/x/stdout"))
        );
        assert!(
            matches!(Uri::parse("file:///var/log/a%20b.log").unwrap(), Uri::File(p) if p == Path::new("/var/log/a b.log"))
        );
        match Uri::parse("binary:///usr/bin/logger?id=abc&flag").unwrap() {
            Uri::Binary(p, args) => {
                assert_eq!(p, Path::new("/usr/bin/logger"));
                assert_eq!(
                    args,
                    vec![("id".into(), "abc".into()), ("flag".into(), String::new())]
                );
            }
            _ => panic!("binary URI"),
        }
        assert!(Uri::parse("http://x/y").is_err());
        assert!(Uri::parse("file://relative").is_err());
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
