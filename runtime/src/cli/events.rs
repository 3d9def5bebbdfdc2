use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use berth::container::store::Store;
use berth::linux::cgroups::stats;
use berth::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::json;

use super::args::Flag;
use super::line::{first, Line, Stop};
use super::Command;

#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag::switch("stats", None, "Print the statistics once and exit."),
    Flag::value("interval", None, "DURATION", "How often to print statistics (default 5s)."),
];

pub fn parse(line: Line) -> Result<Command, Stop> {
    let (mut stats, mut interval) = (false, "5s".to_string());
    let words = line.words(|v| {
        match v.flag.long {
            "stats" => stats = v.on()?,
            "interval" => interval = v.string()?,
            other => unreachable!("events flag --{other} has no field"),
        }
        Ok(())
    })?;
    Ok(Command::Events {
        stats,
        interval,
        id: first(words),
    })
}

/// Go's durations as runc takes them: 5s, 100ms, 1m30s, 1h.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || Error::invalid(format!("invalid duration {s:?}"));
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (n, tail) = rest.split_at(split);
        let n: f64 = n.parse().map_err(|_| bad())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let secs = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += Duration::from_secs_f64(n * secs);
        rest = tail;
    }
    Ok(total)
}

/// runc's `events`: with --stats one stats event; otherwise a stats event
/// every interval and an oom event whenever the container's memory cgroup
/// runs out, until the container stops. One JSON object per line.
pub fn run(store: &Store, id: &str, once: bool, interval: &str) -> Result<()> {
    let interval = parse_duration(interval)?;
    if interval.is_zero() {
        return Err(Error::invalid("--interval must be greater than zero"));
    }
    // The lock is not held while events stream: other commands go on.
    let (state, status) = {
        let dir = store.read(id)?;
        berth::container::lifecycle::loaded(&dir)?
    };
    let (state, cgroups) = berth::container::lifecycle::live_cgroups(state, status, id)?;
    let emit = |event: serde_json::Value| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{event}");
        let _ = out.flush();
    };
    let stats_event = || json!({"type": "stats", "id": id, "data": stats::collect(&cgroups)});
    if once {
        emit(stats_event());
        return Ok(());
    }
    let Some(pidfd) = berth::container::lifecycle::pidfd(&state)? else {
        return Ok(());
    };
    let mut ooms = stats::oom_kills(&cgroups);
    // OOMs are looked for between stats, often enough to report them
    // promptly; the pidfd ends the stream when the container stops.
    let tick = interval.min(Duration::from_millis(100));
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            emit(stats_event());
            next += interval;
        }
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let wait = PollTimeout::try_from(tick.as_millis() as i32).unwrap_or(PollTimeout::NONE);
        let exited = matches!(poll(&mut fds, wait), Ok(n) if n > 0);
        let now = stats::oom_kills(&cgroups);
        if now > ooms {
            emit(json!({"type": "oom", "id": id}));
            ooms = now;
        }
        if exited {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("").is_err());
    }
}
