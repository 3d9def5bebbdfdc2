//! linux.seccomp, checked from inside the container with the probe's raw
//! syscalls: Docker's default profile, per-rule actions, architectures,
//! no_new_privs, flags, a notify agent, and what runs under the filter.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use conformance::{is_runc, stderr, stdout, workspace, Fixture};
use serde_json::{json, Value};

/// x86_64 syscall numbers the tests make.
const GETCWD: u64 = 79;
const GETPPID: u64 = 110;
const GETPGID: u64 = 121;
const PERSONALITY: u64 = 135;
const UNSHARE: u64 = 272;
const CLONE3: u64 = 435;
/// The same on the 32-bit x86 ABI.
const I386_GETPPID: u64 = 64;
const I386_UNSHARE: u64 = 310;
const CLONE_NEWUTS: u64 = 0x0400_0000;
const CLONE_NEWNS: u64 = 0x0002_0000;
const EPERM: i64 = 1;
const ENOSYS: i64 = 38;
const SIGSYS: i32 = 31;

/// Docker's default profile as an OCI section (`../shared/seccomp`), or
/// None where the machine does not have the test data.
fn docker_profile() -> Option<Value> {
    let path: PathBuf = workspace().join("../shared/seccomp/docker-default-amd64.oci.json");
    match std::fs::read(&path) {
        Ok(b) => Some(serde_json::from_slice(&b).unwrap()),
        Err(e) => {
            eprintln!("skipped: {}: {e}", path.display());
            None
        }
    }
}

/// Docker's default capabilities, which the profile was resolved for.
fn docker_caps(f: &mut Fixture) {
    let caps = json!([
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE"
    ]);
    f.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
}

/// [`conformance::probes`] for commands built at run time.
fn probes(f: &mut Fixture, commands: &[Vec<String>]) -> Vec<Value> {
    let words: Vec<Vec<&str>> = commands
        .iter()
        .map(|c| c.iter().map(String::as_str).collect())
        .collect();
    let slices: Vec<&[&str]> = words.iter().map(Vec::as_slice).collect();
    conformance::probes(f, &slices)
}

fn cmd(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn sys(nr: u64, args: &[u64]) -> Vec<String> {
    let mut v = vec!["syscall".to_string(), nr.to_string()];
    v.extend(args.iter().map(|a| format!("{a:#x}")));
    v
}

/// Docker's default profile: namespaces, mounts and clone3 are refused
/// with their errno, ordinary syscalls and plain fork work, the clone
/// argument filter takes effect, and the 32-bit ABI is filtered too.
#[test]
fn docker_default_profile_denies_and_allows_from_inside() {
    let Some(profile) = docker_profile() else {
        return;
    };
    let mut f = Fixture::new("seccompdocker");
    docker_caps(&mut f);
    f.config["linux"]["seccomp"] = profile;
    let r = probes(
        &mut f,
        &[
            vec![],
            sys(UNSHARE, &[CLONE_NEWNS]),
            cmd(&["clone", &format!("{CLONE_NEWUTS:#x}")]),
            cmd(&["clone", "0"]),
            sys(CLONE3, &[0, 0]),
            sys(PERSONALITY, &[0xffff_ffff]),
            sys(PERSONALITY, &[1]),
            cmd(&["int80", &I386_GETPPID.to_string()]),
            cmd(&["int80", &I386_UNSHARE.to_string(), &CLONE_NEWNS.to_string()]),
        ],
    );
    assert_eq!(r[0]["seccomp"], "2");
    assert_eq!(r[1]["errno"], EPERM, "unshare: {}", r[1]);
    assert_eq!(r[2]["errno"], EPERM, "clone with CLONE_NEWUTS: {}", r[2]);
    assert!(r[3]["ret"].as_i64().unwrap() > 0, "plain clone: {}", r[3]);
    assert_eq!(r[4]["errno"], ENOSYS, "clone3: {}", r[4]);
    assert_eq!(r[5]["errno"], 0, "personality query: {}", r[5]);
    assert_eq!(r[6]["errno"], EPERM, "personality(1): {}", r[6]);
    assert!(r[7]["ret"].as_i64().unwrap() > 0, "int80 getppid: {}", r[7]);
    assert_eq!(r[8]["errno"], EPERM, "int80 unshare: {}", r[8]);
}

/// A profile allowing all but a few syscalls, each with its own action.
fn allow_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules})
}

/// Each rule has its own action: ERRNO with errnoRet, LOG lets the call
/// through, several rules on one syscall are alternatives, and args are
/// compared on 64 bits.
#[test]
fn rules_have_their_own_actions_and_argument_checks() {
    let mut f = Fixture::new("seccomprules");
    f.config["linux"]["seccomp"] = allow_but(json!([
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["getpgid"], "action": "SCMP_ACT_LOG"},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 34,
         "args": [{"index": 0, "value": 4294967296u64, "op": "SCMP_CMP_GE"},
                  {"index": 0, "value": 8589934592u64, "op": "SCMP_CMP_LT"}]},
        {"names": ["no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"}
    ]));
    let r = probes(
        &mut f,
        &[
            sys(GETPPID, &[]),
            sys(GETPGID, &[0]),
            sys(PERSONALITY, &[8]),
            sys(PERSONALITY, &[0x1_0000_0008]),
            sys(PERSONALITY, &[0x2_0000_0008]),
            sys(PERSONALITY, &[0xffff_ffff]),
        ],
    );
    assert_eq!(r[0]["errno"], 13);
    assert_eq!(r[1]["errno"], 0);
    assert_eq!(r[2]["errno"], 22);
    assert_eq!(r[3]["errno"], 34, "the upper half is compared: {}", r[3]);
    // libseccomp 2.5 (under runc 1.1) gets 64-bit GE/LT wrong when the
    // halves disagree: both of these match its rule.
    if !is_runc() {
        assert_ne!(r[4]["errno"], 34, "{}", r[4]);
        assert_eq!(r[5]["errno"], 0, "{}", r[5]);
    }
}

/// KILL, KILL_PROCESS and TRAP end the process with SIGSYS.
#[test]
fn kill_and_trap_end_the_process_with_sigsys() {
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
    ] {
        let mut f = Fixture::new("seccompkill");
        f.config["linux"]["seccomp"] = allow_but(json!([{"names": ["getppid"], "action": action}]));
        f.args(&["/bin/probe", "syscall", &GETPPID.to_string()]);
        let out = f.run();
        assert_eq!(
            out.status.code(),
            Some(128 + SIGSYS),
            "{action}: {}",
            stderr(&out)
        );
    }
}

/// A filter for x86_64 alone kills a call through the 32-bit entry; with
/// x86 listed, the x86 rules apply to it.
#[test]
fn the_32_bit_abi_cannot_bypass_the_filter() {
    let mut f = Fixture::new("seccomparch");
    f.config["linux"]["seccomp"] =
        allow_but(json!([{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]));
    f.args(&["/bin/probe", "int80", &I386_GETPPID.to_string()]);
    let out = f.run();
    assert_eq!(out.status.code(), Some(128 + SIGSYS), "{}", stdout(&out));

    f.config["linux"]["seccomp"]["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    let r = probes(&mut f, &[cmd(&["int80", &I386_GETPPID.to_string()])]);
    assert_eq!(r[0]["errno"], EPERM);
}

/// Without noNewPrivileges the filter still loads (while the process still
/// has CAP_SYS_ADMIN) and no_new_privs stays clear, also for a non-root
/// user without capabilities; flags are accepted.
#[test]
fn no_new_privs_only_when_asked_and_flags_are_accepted() {
    let mut f = Fixture::new("seccompnnp");
    f.config["process"]["noNewPrivileges"] = json!(false);
    f.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    // (getpgid: runc 1.1's own init calls getppid after loading the
    // filter, and crashes when it fails.)
    // Not CAP_SYS_ADMIN, so the filter cannot wait until execve. (runc 1.1
    // crashes when every set is empty.)
    let caps = json!(["CAP_KILL"]);
    f.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    let mut profile = allow_but(json!([{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO"}]));
    // runc 1.1 refuses every flag ("not yet supported").
    if !is_runc() {
        profile["flags"] = json!([
            "SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            "SECCOMP_FILTER_FLAG_TSYNC"
        ]);
    }
    f.config["linux"]["seccomp"] = profile;
    let r = probes(&mut f, &[vec![], sys(GETPGID, &[0])]);
    assert_eq!(r[0]["no_new_privs"], "0");
    assert_eq!(r[0]["seccomp"], "2");
    assert_eq!(r[0]["uid"], "1000\t1000\t1000\t1000");
    assert_eq!(r[1]["errno"], EPERM);

    f.config["process"]["noNewPrivileges"] = json!(true);
    let r = probes(&mut f, &[vec![]]);
    assert_eq!(r[0]["no_new_privs"], "1");
}

/// Without noNewPrivileges, loading the filter takes CAP_SYS_ADMIN, which
/// the process here does not have; still nothing of the runtime's own runs
/// under the filter, so a profile denying getcwd (which berth's check of
/// the working directory used to call under it) works, as under crun.
#[test]
fn a_profile_denying_getcwd_works_without_no_new_privileges() {
    if is_runc() {
        // runc 1.1.5 (Debian's, with the fix for CVE-2024-21626) checks its
        // working directory with getcwd after loading the filter, and fails.
        return;
    }
    let mut f = Fixture::new("seccompgetcwd");
    f.config["process"]["noNewPrivileges"] = json!(false);
    f.config["linux"]["seccomp"] =
        allow_but(json!([{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]));
    let r = f.probe_mode(&["syscall", &GETCWD.to_string(), "0", "0"]);
    assert_eq!(r["errno"], EPERM, "{r}");
}

/// Calls a runtime may make on its way from clone to execve that neither
/// drop privileges nor are execve: what berth's init made after the filter
/// before issue 21, and what running a startContainer hook takes. busybox's
/// `true` makes none of them (it does make newfstatat as another user than
/// root, hence not that one).
const RUNTIME_CALLS: [&str; 39] = [
    "getcwd",
    "chdir",
    "fchdir",
    "open",
    "openat",
    "read",
    "write",
    "close",
    "fcntl",
    "stat",
    "statx",
    "umask",
    "close_range",
    "personality",
    "rt_sigaction",
    "rt_sigprocmask",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "poll",
    "ppoll",
    "pipe2",
    "clone",
    "clone3",
    "vfork",
    "wait4",
    "waitid",
    "pidfd_open",
    "dup2",
    "dup3",
    "setsid",
    "ioctl",
    "mmap",
    "munmap",
    "getpid",
    "kill",
    "sched_setaffinity",
    "setpriority",
];

/// Nothing of the runtime's own runs under the filter but dropping
/// privileges and execve: with each of [`RUNTIME_CALLS`] killing whoever
/// makes it, a container whose program and startContainer hook are `true`
/// runs, whichever way the filter goes on (with no_new_privs, or with
/// CAP_SYS_ADMIN kept until then, for root and for another user).
#[test]
fn the_runtime_makes_no_call_of_its_own_under_the_filter() {
    if is_runc() {
        // Without no_new_privs runc 1.1 loads the filter before it drops
        // privileges; its own code then checks the cwd, calls getppid,
        // opens and writes the exec fifo and runs the hooks under it.
        return;
    }
    for (nnp, uid, caps) in [
        (false, 0, json!(["CAP_KILL"])),
        (false, 1000, json!(["CAP_KILL"])),
        (true, 0, json!(["CAP_KILL"])),
        // CAP_SYS_ADMIN kept: the filter waits for execve without
        // no_new_privs.
        (false, 0, json!(["CAP_KILL", "CAP_SYS_ADMIN"])),
    ] {
        let mut f = Fixture::new("seccompown");
        f.config["process"]["noNewPrivileges"] = json!(nnp);
        f.config["process"]["user"] = json!({"uid": uid, "gid": uid});
        f.config["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        f.config["linux"]["personality"] = json!({"domain": "LINUX"});
        f.config["hooks"] = json!({"startContainer": [{"path": "/bin/true"}]});
        f.args(&["/bin/true"]);
        for call in RUNTIME_CALLS {
            f.config["linux"]["seccomp"] =
                allow_but(json!([{"names": [call], "action": "SCMP_ACT_KILL_PROCESS"}]));
            let out = f.run();
            assert!(
                out.status.success(),
                "noNewPrivileges {nnp}, uid {uid}, caps {caps}, {call} killed: {:?} {}",
                out.status,
                stderr(&out)
            );
        }
    }
}

/// startContainer hooks run in the container as its processes do, under
/// its filter (as runc and crun run them), also when the runtime loads it
/// into its own init only right before execve.
#[test]
fn start_container_hooks_run_under_the_filter() {
    for nnp in [true, false] {
        let mut f = Fixture::new("seccomphook");
        let out = f.dir.join("out");
        std::fs::create_dir_all(&out).unwrap();
        f.config["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/out", "type": "bind", "source": out, "options": ["bind"]}),
        );
        f.config["process"]["noNewPrivileges"] = json!(nnp);
        f.config["linux"]["seccomp"] =
            allow_but(json!([{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]));
        let script = format!("/bin/probe syscall {GETPGID} 0 > /out/hook.json");
        f.config["hooks"] =
            json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]});
        f.args(&["/bin/true"]);
        let o = f.run();
        assert!(o.status.success(), "{}", stderr(&o));
        let text = std::fs::read_to_string(out.join("hook.json")).unwrap_or_default();
        let r: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
        assert_eq!(r["errno"], 13, "noNewPrivileges {nnp}: {r}");
    }
}

/// The agent end of SCMP_ACT_NOTIFY: takes the listener from the runtime,
/// reports the container process state it was sent as soon as it has it,
/// and answers every notification with `reply`.
struct Agent {
    path: PathBuf,
    received: std::sync::mpsc::Receiver<Result<Value, String>>,
}

impl Agent {
    fn start(dir: &std::path::Path, reply: i64) -> Agent {
        let path = dir.join("agent.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || serve(listener, reply, tx));
        Agent { path, received }
    }

    /// The container process state, once the runtime has sent it.
    fn state(&self, timeout: Duration) -> Result<Value, String> {
        match self.received.recv_timeout(timeout) {
            Ok(r) => r,
            Err(e) => Err(format!("no listener within {timeout:?}: {e}")),
        }
    }
}

fn serve(listener: UnixListener, reply: i64, tx: std::sync::mpsc::Sender<Result<Value, String>>) {
    let fd = match take_listener(&listener) {
        Ok((state, fd)) => {
            let _ = tx.send(Ok(state));
            fd
        }
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    // Answer until the container is gone (the listener hangs up).
    loop {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 30_000) };
        if n <= 0 || p.revents & libc::POLLIN == 0 {
            return;
        }
        let mut req = [0u8; 80]; // struct seccomp_notif, zeroed as the kernel wants
                                 // SAFETY: SECCOMP_IOCTL_NOTIF_RECV fills the 80-byte struct.
        if unsafe { libc::ioctl(fd.as_raw_fd(), 0xc050_2100, req.as_mut_ptr()) } != 0 {
            continue;
        }
        let id = u64::from_ne_bytes(req[..8].try_into().unwrap());
        let mut resp = [0u8; 24]; // struct seccomp_notif_resp
        resp[..8].copy_from_slice(&id.to_ne_bytes());
        resp[8..16].copy_from_slice(&reply.to_ne_bytes());
        // SAFETY: SECCOMP_IOCTL_NOTIF_SEND reads the 24-byte struct.
        unsafe { libc::ioctl(fd.as_raw_fd(), 0xc018_2101, resp.as_ptr()) };
    }
}

/// The runtime's one connection and what comes over it: the container
/// process state and the listener.
fn take_listener(listener: &UnixListener) -> Result<(Value, OwnedFd), String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("no connection: {e}")),
        }
    };
    conn.set_nonblocking(false).map_err(|e| e.to_string())?;
    let (msg, fd) = recv_with_fd(conn.as_raw_fd())?;
    let state = serde_json::from_slice(&msg).map_err(|e| e.to_string())?;
    Ok((state, fd))
}

/// One message and the descriptor sent with it (SCM_RIGHTS).
fn recv_with_fd(sock: i32) -> Result<(Vec<u8>, OwnedFd), String> {
    let mut buf = vec![0u8; 65536];
    let mut cmsg = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr points at live buffers of the lengths given.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = cmsg.as_mut_ptr().cast();
    hdr.msg_controllen = std::mem::size_of_val(&cmsg);
    // SAFETY: as above.
    let n = unsafe { libc::recvmsg(sock, &mut hdr, 0) };
    if n <= 0 {
        return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the kernel filled the control buffer; walking it with the
    // CMSG macros stays inside it.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&hdr);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err("no descriptor in the message".into());
        }
        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32)
    };
    buf.truncate(n as usize);
    // SAFETY: a descriptor the kernel just gave us.
    Ok((buf, unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// SCMP_ACT_NOTIFY: the agent at listenerPath gets the listener and the
/// container process state, and its answer is the syscall's result.
#[test]
fn notify_reaches_the_agent_and_its_answer_is_the_result() {
    let mut f = Fixture::new("seccompnotify");
    let agent = Agent::start(&f.dir, 4242);
    let mut profile = allow_but(json!([{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]));
    profile["listenerPath"] = json!(agent.path);
    profile["listenerMetadata"] = json!("berth-test-metadata");
    f.config["linux"]["seccomp"] = profile;
    let r = probes(&mut f, &[sys(GETPPID, &[])]);
    assert_eq!(r[0]["ret"], 4242, "{}", r[0]);
    let st = agent.state(Duration::from_secs(10)).unwrap();
    assert_eq!(st["fds"], json!(["seccompFd"]), "{st}");
    assert_eq!(st["metadata"], "berth-test-metadata", "{st}");
    assert_eq!(st["state"]["id"], f.id.as_str(), "{st}");
    assert!(st["pid"].as_i64().unwrap() > 0, "{st}");
    if !is_runc() {
        assert_eq!(st["pid"], st["state"]["pid"], "{st}");
    }
}

/// The listener goes to the agent during `create`, with the status
/// "creating" (runc sends it there; runtime.md's example has it): an agent
/// that waits for it before it lets the container start, as seccomp
/// agents and test suites do, must not hang, whether the filter goes on
/// with no_new_privs or with CAP_SYS_ADMIN.
#[test]
fn the_listener_reaches_the_agent_during_create() {
    for nnp in [true, false] {
        let mut f = Fixture::new("seccompnotifycreate");
        let agent = Agent::start(&f.dir, 4242);
        // getpgid: runc 1.1's init calls getppid itself once the filter
        // is on without no_new_privs.
        let mut profile = allow_but(json!([{"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY"}]));
        profile["listenerPath"] = json!(agent.path);
        f.config["linux"]["seccomp"] = profile;
        f.config["process"]["noNewPrivileges"] = json!(nnp);
        f.args(&["/bin/probe", "syscall", &GETPGID.to_string(), "0"]);
        let out = f.create(&[]);
        assert!(out.status.success(), "create: {}", f.container_output());
        let st = agent
            .state(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("noNewPrivileges {nnp}: {e}"));
        assert_eq!(st["state"]["status"], "creating", "{st}");
        assert_eq!(st["state"]["id"], f.id.as_str(), "{st}");
        assert_eq!(f.status(), "created");
        let start = f.rt(&["start", &f.id]);
        assert!(start.status.success(), "start: {}", stderr(&start));
        assert!(f.wait_status("stopped"), "{}", f.container_output());
        let text = f.container_output();
        let r: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(r["ret"], 4242, "noNewPrivileges {nnp}: {r}");
    }
}

/// Bad profiles are refused before anything is created.
#[test]
fn bad_profiles_are_refused() {
    let f = Fixture::new("seccompbad");
    let mut f = f;
    for bad in [
        json!({"defaultAction": "SCMP_ACT_NOTIFY"}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    ] {
        f.config["linux"]["seccomp"] = bad;
        f.write_config();
        f.create_fails(&f.id);
    }
}
