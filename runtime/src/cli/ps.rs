use std::io::Write;
use std::process::Command;

use berth::container::store::Store;
use berth::error::SysResult;
use berth::oci::state::Status;
use berth::{Error, Result};

use super::args::Flag;
use super::line::{first, Line, Stop};

pub const FLAGS: &[Flag] = &[Flag::value(
    "format",
    Some('f'),
    "FORMAT",
    "table (default) or json.",
)];

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PsFormat {
    Table,
    Json,
}

pub fn parse(line: Line) -> Result<super::Command, Stop> {
    let mut format = PsFormat::Table;
    let mut words = line.words(|v| {
        format = v.one_of(&[("table", PsFormat::Table), ("json", PsFormat::Json)])?;
        Ok(())
    })?;
    let ps_args = words.split_off(1);
    Ok(super::Command::Ps {
        format,
        id: first(words),
        ps_args,
    })
}

/// runc's `ps`: the container's processes as a JSON list of pids, or the
/// lines of `ps ARGS` (default `-ef`) for those pids, with its header.
pub fn run(store: &Store, id: &str, format: PsFormat, ps_args: &[String]) -> Result<()> {
    let dir = store.read(id)?;
    let (state, status) = berth::container::lifecycle::loaded(&dir)?;
    let Some(state) = state else {
        return Err(Error::wrong_state(format!("container {id} is not running")));
    };
    // A stopped container may still hold processes its init left in its
    // cgroup; runc lists them too.
    let mut pids = berth::container::lifecycle::members(&state)?;
    if status != Status::Stopped {
        pids.push(state.pid);
    }
    pids.sort_unstable();
    pids.dedup();
    let mut out = std::io::stdout().lock();
    if let PsFormat::Json = format {
        let _ = writeln!(out, "{}", serde_json::to_string(&pids).expect("serialises"));
        return Ok(());
    }
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let listing = Command::new("ps").args(&args).output().sys("run ps")?;
    if !listing.status.success() {
        return Err(Error::invalid(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&listing.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&listing.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::invalid("ps: its output has no PID column"))?;
    let _ = writeln!(out, "{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.binary_search(&p).is_ok()) {
            let _ = writeln!(out, "{line}");
        }
    }
    Ok(())
}
