//! runc-compatible logging: `--log FILE` and `--log-format text|json`.
//!
//! containerd and podman read a runtime's errors only from the log file, as
//! JSON lines `{"level":"error","msg":"…","time":"…"}`, so every error is
//! written there as well as to stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::timefmt::now_rfc3339_nano;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<Mutex<File>>,
    format: Format,
}

impl Logger {
    fn line(&self, level: Level, msg: &str) -> String {
        let level = level.as_str().to_ascii_lowercase();
        let level = if level == "warn" {
            "warning".into()
        } else {
            level
        };
        match self.format {
            Format::Json => {
                let v = serde_json::json!({"level": level, "msg": msg, "time": now_rfc3339_nano()});
                format!("{v}\n")
            }
            Format::Text => format!(
                "time=\"{}\" level={level} msg={:?}\n",
                now_rfc3339_nano(),
                msg
            ),
        }
    }
}

impl Log for Logger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        match &self.file {
            Some(f) => {
                let line = self.line(record.level(), &msg);
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
            }
            None => {
                // Without --log, runc's warnings and debug lines go to stderr.
                let line = self.line(record.level(), &msg);
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the process-wide logger. A log file that cannot be opened is an
/// error of its own: the caller would otherwise lose every later message.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(Mutex::new(
            OpenOptions::new().create(true).append(true).open(p)?,
        )),
        None => None,
    };
    let logger = Box::new(Logger { file, format });
    // set_boxed_logger fails only when a logger is already set (tests).
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(if debug {
            LevelFilter::Debug
        } else {
            LevelFilter::Warn
        });
    }
    Ok(())
}

/// Reports a fatal error: to the log (if any) and to stderr, as runc does.
pub fn fatal(msg: &str, logged_to_file: bool) {
    if logged_to_file {
        log::error!("{msg}");
    }
    let _ = writeln!(std::io::stderr(), "berth: {msg}");
}
