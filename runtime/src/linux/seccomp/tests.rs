//! Golden listings of small profiles, and behaviour: each filter is loaded
//! in a forked child that makes syscalls and reports through its exit
//! status.

use super::*;
use oci_spec::runtime::LinuxSeccomp;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

#[test]
fn golden_listing_of_a_small_profile() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[
              {"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
              {"names":["personality"],"action":"SCMP_ACT_ALLOW",
               "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
              {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22}
            ]}"#,
    );
    let f = compile(&p).unwrap();
    assert_eq!(f.flags, 0);
    assert!(!f.notify);
    let want = "\
  0 ld [4]
  1 jeq 0xc000003e jt 0 jf 1
  2 ja +1
  3 ret 0x80000000
  4 ld [0]
  5 jge 0x40000000 jt 0 jf 1
  6 ja +16
  7 jgt 0x87 jt 0 jf 1
  8 ja +15
  9 jeq 0x27 jt 1 jf 0
 10 ja +1
 11 ret 0x7fff0000
 12 jeq 0x87 jt 1 jf 0
 13 ja +8
 14 ja +1
 15 ja +6
 16 ld [20]
 17 jeq 0x0 jt 0 jf 3
 18 ld [16]
 19 jeq 0x8 jt 0 jf 1
 20 ret 0x7fff0000
 21 ret 0x50016
 22 ret 0x50001
 23 ret 0x80000000
 24 ret 0x50026
";
    // Read as: an x86_64 call goes on at 4, anything else is killed (3);
    // x32 numbers are killed (6 → 23), numbers above personality (135) get
    // ENOSYS (8 → 24); getpid is allowed (11); personality(8) is allowed
    // by seccompiler's 64-bit compare (16-20), any other personality gets
    // EINVAL (21); the rest gets the default EPERM (22).
    let got = bpf::listing(&f.program);
    let lines = |s: &str| s.lines().map(str::trim).collect::<Vec<_>>().join("\n");
    assert_eq!(lines(&got), lines(want), "\n{got}");
}

/// Runs `body` in a forked child under `filter` and returns how it ended:
/// Ok(exit code) or Err(signal).
fn under(filter: &Filter, body: fn() -> i32) -> std::result::Result<i32, i32> {
    // SAFETY: the child only makes raw syscalls and _exits.
    match unsafe { libc::fork() } {
        0 => {
            let code = match load(filter) {
                Ok(_) => body(),
                Err(_) => 100,
            };
            // SAFETY: leaving the forked child without running the test
            // harness's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            if libc::WIFEXITED(status) {
                Ok(libc::WEXITSTATUS(status))
            } else {
                Err(libc::WTERMSIG(status))
            }
        }
    }
}

/// The errno of a raw syscall, or 0 when it succeeded.
fn errno_of(r: libc::c_long) -> i32 {
    if r == -1 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

const ALLOW_EXIT: &str = r#"{"names":["exit","exit_group"],"action":"SCMP_ACT_ALLOW"}"#;

#[test]
fn each_rule_has_its_own_action_and_errno() {
    let p = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":13}},
            {{"names":["getpgid"],"action":"SCMP_ACT_ERRNO"}},
            {{"names":["getsid"],"action":"SCMP_ACT_KILL_PROCESS"}}, {ALLOW_EXIT}]}}"#
    ));
    let f = compile(&p).unwrap();
    let r = under(&f, || {
        // SAFETY: plain syscalls without pointers.
        let a = errno_of(unsafe { libc::syscall(libc::SYS_getppid) });
        let b = errno_of(unsafe { libc::syscall(libc::SYS_getpgid, 0) });
        let c = errno_of(unsafe { libc::syscall(libc::SYS_getpid) });
        if (a, b, c) == (libc::EACCES, libc::EPERM, 0) {
            0
        } else {
            1
        }
    });
    assert_eq!(r, Ok(0));
    let r = under(&f, || {
        // SAFETY: as above.
        unsafe { libc::syscall(libc::SYS_getsid, 0) };
        0
    });
    assert_eq!(r, Err(libc::SIGSYS));
}

#[test]
fn argument_conditions_and_and_rules_or() {
    let p = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":1,
              "args":[{{"index":0,"value":8,"op":"SCMP_CMP_EQ"}}]}},
            {{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":2,
              "args":[{{"index":0,"value":16,"op":"SCMP_CMP_GE"}},
                      {{"index":0,"value":32,"op":"SCMP_CMP_LT"}}]}},
            {{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":3,
              "args":[{{"index":0,"value":4294967296,"op":"SCMP_CMP_GE"}}]}},
            {{"names":["unshare"],"action":"SCMP_ACT_ERRNO","errnoRet":4,
              "args":[{{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}}]}},
            {ALLOW_EXIT}]}}"#
    ));
    let f = compile(&p).unwrap();
    let r = under(&f, || {
        let q = 0xffff_ffffu64; // query only
                                // SAFETY: personality and unshare take integers.
        let calls = unsafe {
            [
                errno_of(libc::syscall(libc::SYS_personality, 8u64)),
                errno_of(libc::syscall(libc::SYS_personality, 20u64)),
                errno_of(libc::syscall(libc::SYS_personality, 40u64)),
                errno_of(libc::syscall(libc::SYS_personality, 1u64 << 33)),
                errno_of(libc::syscall(libc::SYS_personality, q)),
                // A new namespace flag: the masked compare fails, allowed
                // (and refused by the kernel for other reasons or not).
                errno_of(libc::syscall(libc::SYS_unshare, 0u64)),
            ]
        };
        let want = [1, 2, 0, 3, 0, 4];
        let mut code = 0;
        for (i, (g, w)) in calls.iter().zip(want).enumerate() {
            if *g != w && !(w == 0 && *g != 1 && *g != 2 && *g != 3) {
                code = 10 + i as i32;
            }
        }
        code
    });
    assert_eq!(r, Ok(0));
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    let p = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {{"names":["getpid","read","write"],"action":"SCMP_ACT_ALLOW"}}, {ALLOW_EXIT}]}}"#
    ));
    let f = compile(&p).unwrap();
    let r = under(&f, || {
        // SAFETY: integer arguments only.
        let old = errno_of(unsafe { libc::syscall(libc::SYS_getppid) });
        let new = errno_of(unsafe { libc::syscall(libc::SYS_close_range, 1000, 1000, 0) });
        let ok = errno_of(unsafe { libc::syscall(libc::SYS_getpid) });
        if (old, new, ok) == (libc::EPERM, libc::ENOSYS, 0) {
            0
        } else {
            1
        }
    });
    assert_eq!(r, Ok(0));
}

#[test]
fn x32_and_x86_syscalls_cannot_bypass_an_x86_64_filter() {
    let p = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
             "syscalls":[{{"names":["getppid"],"action":"SCMP_ACT_ERRNO"}}, {ALLOW_EXIT}]}}"#
    ));
    let f = compile(&p).unwrap();
    // An x32 syscall number from a process whose filter has no x32 section.
    let r = under(&f, || {
        // SAFETY: integer arguments only.
        unsafe { libc::syscall(libc::SYS_getppid | X32_SYSCALL_BIT as i64) };
        0
    });
    assert_eq!(r, Err(libc::SIGSYS));
    let listing = bpf::listing(&f.program);
    assert!(!listing.contains("0x40000003"), "x86 was not asked for");

    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let listing = bpf::listing(&compile(&p).unwrap().program);
    // getppid in each ABI: 110 (x86_64), 64 (x86), 110|x32 bit.
    for nr in ["jeq 0x6e", "jeq 0x40", "jeq 0x4000006e"] {
        assert!(listing.contains(nr), "{nr}\n{listing}");
    }
    assert!(listing.contains("jeq 0x40000003"), "{listing}");
}

#[test]
fn unknown_syscalls_are_skipped_and_bad_rules_refused() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["no_such_syscall","getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    assert!(bpf::listing(&compile(&p).unwrap().program).contains("jeq 0x27"));
    let bad = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(compile(&bad)
        .unwrap_err()
        .to_string()
        .contains("argument index"));
    let notify_default = profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
    assert!(compile(&notify_default).is_err());
}

#[test]
fn flags_and_notify_become_load_flags() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls":[{"names":["mknodat"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    let f = compile(&p).unwrap();
    assert!(f.notify);
    assert_eq!(
        f.flags,
        flag::LOG | flag::TSYNC | flag::NEW_LISTENER | flag::TSYNC_ESRCH
    );
}

#[test]
fn golden_listing_of_x86_64_with_x86_and_x32() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
    );
    let want = "
        0 ld [4]
        1 jeq 0xc000003e jt 0 jf 1
        2 ja +3
        3 jeq 0x40000003 jt 0 jf 1
        4 ja +8
        5 ret 0x80000000
        6 ld [0]
        7 jge 0x40000000 jt 0 jf 1
        8 ja +9
        9 jeq 0x6e jt 1 jf 0
        10 ja +1
        11 ret 0x80000000
        12 ret 0x7fff0000
        13 ld [0]
        14 jeq 0x40 jt 1 jf 0
        15 ja +1
        16 ret 0x80000000
        17 ret 0x7fff0000
        18 jeq 0x4000006e jt 1 jf 0
        19 ja +1
        20 ret 0x80000000
        21 ret 0x7fff0000
        22 ret 0x80000000
        23 ret 0x50026
    ";
    // x86_64 (6) sends x32 numbers to the x32 section (18); x86 has its own
    // section (13) with getppid's x86 number; no ENOSYS stub with a default
    // of ALLOW.
    let got = bpf::listing(&compile(&p).unwrap().program);
    let lines = |s: &str| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(lines(&got), lines(want), "\n{got}");
}

#[test]
fn bad_rules_are_refused_even_where_they_would_be_left_out() {
    // A rule returning the default, or naming no syscall of this machine,
    // is left out of the filter; its mistakes are still mistakes.
    for rule in [
        r#"{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}"#,
        r#"{"names":["no_such_syscall"],"action":"SCMP_ACT_ERRNO","args":[{"index":99,"value":1,"op":"SCMP_CMP_EQ"}]}"#,
    ] {
        let p = profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{rule}]}}"#
        ));
        let err = compile(&p).unwrap_err().to_string();
        assert!(err.contains("syscalls[0].args[0]: argument index"), "{err}");
    }
    for (p, field) in [
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65536}"#,
            "defaultErrnoRet 65536",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":65537}]}"#,
            "syscalls[0].errnoRet 65537",
        ),
    ] {
        let err = compile(&profile(p)).unwrap_err().to_string();
        assert!(err.contains(field), "{err}");
    }
    let p = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65535}"#;
    compile(&profile(p)).unwrap();
}

#[test]
fn duplicate_rules_cost_nothing() {
    let rule = r#"{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}"#;
    let once = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{rule}]}}"#
    ));
    let rules = vec![rule; 5000].join(",");
    let many = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{rules},{{"names":["personality"],"action":"SCMP_ACT_ALLOW"}},{rule}]}}"#
    ));
    let (a, b) = (compile(&once).unwrap(), compile(&many).unwrap());
    // The unconditional rule's return takes the place of the default's,
    // and nothing after it counts.
    assert_eq!(b.program.len(), a.program.len());
    // Different checks are different rules, and too many of them do not fit.
    let distinct: Vec<String> = (0..2000)
        .map(|v| rule.replace(r#""value":8"#, &format!(r#""value":{v}"#)))
        .collect();
    let big = profile(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{}]}}"#,
        distinct.join(",")
    ));
    let err = compile(&big).unwrap_err().to_string();
    assert!(err.contains("more than the kernel's 4096"), "{err}");
}
