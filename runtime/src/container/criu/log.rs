//! What criu's log says went wrong. criu logs an error at each level of
//! the call chain that fails ("Can't lookup mount=… for fd=0" and then
//! "Dump files (pid: …) failed"), and it also logs errors it carries on
//! from, which appear in dumps and restores that succeed. The error that
//! decides a failure is the first one that is not of those.

/// Errors criu logs in runs that succeed: it could not raise its own
/// RLIMIT_NOFILE (an unprivileged user namespace, a hard limit below
/// nr_open) and works with the one it has.
const CARRIED_ON: &[&str] = &["rlimit: Can't setup RLIMIT_NOFILE"];

/// Whether criu's message `line` is one it carries on from.
pub fn carried_on(line: &str) -> bool {
    CARRIED_ON.iter().any(|e| line.contains(e))
}

/// The errors that tell why a run failed, as `Error (file:line): text`:
/// the first one criu did not carry on from (the cause) and the last one
/// (the step that failed), or one of them when they are the same.
/// criu's closing "Dumping FAILED." says nothing more.
pub fn telling(log: &str) -> Vec<String> {
    let errors: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("Error (").map(|(_, rest)| rest))
        .filter(|l| !l.ends_with("FAILED."))
        .map(|l| format!("Error ({l}"))
        .collect();
    let cause = errors.iter().find(|l| !carried_on(l));
    let last = errors.last().filter(|l| !carried_on(l));
    let mut out: Vec<String> = cause.into_iter().chain(last).cloned().collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_is_the_first_error_criu_did_not_carry_on_from() {
        let log = "(0.01) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: EPERM\n\
                   (0.02) fine\n\
                   (0.12) Error (criu/files-reg.c:1790): Can't lookup mount=24 for fd=0 path=/dev/null\n\
                   (0.13) Error (criu/cr-dump.c:1681): Dump files (pid: 7) failed with -1\n\
                   (0.20) Error (criu/cr-dump.c:2111): Dumping FAILED.\n";
        assert_eq!(
            telling(log),
            [
                "Error (criu/files-reg.c:1790): Can't lookup mount=24 for fd=0 path=/dev/null",
                "Error (criu/cr-dump.c:1681): Dump files (pid: 7) failed with -1",
            ]
        );
        assert_eq!(
            telling("(1) Error (a.c:1): only\n(2) Error (b.c:2): Dumping FAILED.\n"),
            ["Error (a.c:1): only"]
        );
        // Only errors criu carries on from: nothing tells.
        assert!(telling("(1) Error (u.c:1): rlimit: Can't setup RLIMIT_NOFILE\n").is_empty());
        assert!(carried_on(
            "Error (u.c:1): rlimit: Can't setup RLIMIT_NOFILE for self"
        ));
    }
}
