//! probe: runs inside a test container and prints, as one JSON object,
//! what the container looks like from inside. Static, libc only.

use std::fmt::Write as _;
use std::fs;

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

fn opt(s: Option<String>) -> String {
    s.map(|s| q(&s)).unwrap_or_else(|| "null".into())
}

fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
}

fn list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("exit") {
        std::process::exit(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0));
    }
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out = String::from("{");
    let _ = write!(out, "\"pid\":{},", std::process::id());
    let ns: Vec<String> = fs::read_dir("/proc/self/ns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let link = fs::read_link(e.path()).ok()?;
                    Some(format!("{}:{}", q(&name), q(&link.to_string_lossy())))
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(out, "\"namespaces\":{{{}}},", ns.join(","));
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let _ = write!(
        out,
        "\"hostname\":{},",
        opt(hostname.map(|h| h.trim().to_string()))
    );
    let domain = fs::read_to_string("/proc/sys/kernel/domainname").ok();
    let _ = write!(
        out,
        "\"domainname\":{},",
        opt(domain.map(|h| h.trim().to_string()))
    );
    for (key, name) in [
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
    ] {
        let _ = write!(out, "\"{name}\":{},", opt(status_field(&status, key)));
    }
    let cwd = std::env::current_dir()
        .ok()
        .map(|p| p.display().to_string());
    let _ = write!(out, "\"cwd\":{},", opt(cwd));
    let env = std::env::vars().map(|(k, v)| q(&format!("{k}={v}")));
    let _ = write!(out, "\"env\":{},", list(env));
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
    let _ = write!(out, "\"mounts\":{},", list(mounts));
    let cgroups = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let _ = write!(out, "\"cgroups\":{},", list(cgroups.lines().map(q)));
    let fds = fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    let t = fs::read_link(e.path()).map(|p| p.display().to_string());
                    format!("{}:{}", q(&e.file_name().to_string_lossy()), opt(t.ok()))
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let _ = write!(out, "\"fds\":{{{}}},", fds.join(","));
    // SAFETY: isatty and getrlimit only read process state.
    let ttys = (0..3).map(|fd| (unsafe { libc::isatty(fd) } == 1).to_string());
    let _ = write!(out, "\"tty\":{},", list(ttys));
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    let _ = write!(out, "\"nofile\":[{},{}],", rl.rlim_cur, rl.rlim_max);
    let _ = write!(out, "\"sid\":{}", unsafe { libc::getsid(0) });
    out.push('}');
    println!("{out}");
}
