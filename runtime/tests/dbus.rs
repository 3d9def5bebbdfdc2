//! berth's D-Bus client against a real bus, Debian's dbus-daemon on a
//! private socket in a temporary directory (the tests that need it skip,
//! saying so, where it is not installed; hack/setup installs it), and
//! against servers played by the test for what a bus will not do on
//! demand: refuse to authenticate, hang, send garbage, talk as a peer.
//!
//! Every daemon is killed by its PID and every directory removed when
//! its guard drops, the test failing or not.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use berth::linux::dbus::message::{frame_len, FIXED_HEADER};
use berth::linux::dbus::{Connection, Kind, Message, MethodError, Value};
use nix::errno::Errno;

const BUS: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";
const SECOND: Duration = Duration::from_secs(1);

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("berth-dbus-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A dbus-daemon of the test's own.
struct Daemon {
    child: Child,
    /// The address it printed once listening (with its guid).
    address: String,
    _dir: TempDir,
}

impl Daemon {
    /// None, having said why, if dbus-daemon is not installed.
    fn start(tag: &str) -> Option<Daemon> {
        let dir = TempDir::new(tag);
        let socket = dir.path("bus");
        // Its own configuration rather than the session's: nothing from
        // /etc or /usr/share (service files, includes) comes in.
        let config = dir.path("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n  \
                 <auth>EXTERNAL</auth>\n  <policy context=\"default\">\n    \
                 <allow send_destination=\"*\" eavesdrop=\"true\"/>\n    \
                 <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n</busconfig>\n",
                socket.display()
            ),
        )
        .unwrap();
        let stderr = std::fs::File::create(dir.path("stderr")).unwrap();
        let spawned = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped: dbus-daemon is not installed (hack/setup installs it)");
                return None;
            }
            Err(e) => panic!("spawn dbus-daemon: {e}"),
        };
        // Printed once it listens.
        let mut line = String::new();
        let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let daemon = Daemon {
            child,
            address: line.trim().to_owned(),
            _dir: dir,
        };
        if read.is_err() || daemon.address.is_empty() {
            let log = std::fs::read_to_string(daemon._dir.path("stderr")).unwrap_or_default();
            panic!("dbus-daemon printed no address: {read:?}; its stderr: {log}");
        }
        Some(daemon)
    }

    fn connect(&self) -> Connection {
        Connection::open(&self.address, true).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn name_owner_changed(name: &str) -> impl Fn(&Message) -> bool + '_ {
    move |m| {
        m.is_signal(BUS, "NameOwnerChanged") && m.body.first().and_then(Value::as_str) == Some(name)
    }
}

#[test]
fn dbus_hello_get_id_and_list_names() {
    let Some(d) = Daemon::start("hello") else {
        return;
    };
    let mut c = d.connect();
    let me = c.unique_name().unwrap().to_owned();
    assert!(me.starts_with(":1."), "{me}");

    // The bus's id: 32 hex digits, the same for every connection.
    let id = c.call(Some(BUS), BUS_PATH, BUS, "GetId", &[]).unwrap();
    let [Value::Str(hex)] = id.as_slice() else {
        panic!("GetId returned {id:?}");
    };
    assert!(
        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hex}"
    );
    let again = d
        .connect()
        .call(Some(BUS), BUS_PATH, BUS, "GetId", &[])
        .unwrap();
    assert_eq!(again, id);

    let names = c.call(Some(BUS), BUS_PATH, BUS, "ListNames", &[]).unwrap();
    let [Value::Array(sig, names)] = names.as_slice() else {
        panic!("ListNames returned {names:?}");
    };
    assert_eq!(sig, "s");
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    assert!(
        names.contains(&BUS) && names.contains(&me.as_str()),
        "{names:?}"
    );

    // A call with arguments: who owns our own name?
    let owner = c
        .call(Some(BUS), BUS_PATH, BUS, "GetNameOwner", &[Value::str(&me)])
        .unwrap();
    assert_eq!(owner, [Value::str(&me)]);
}

#[test]
fn dbus_error_replies_name_the_error() {
    let Some(d) = Daemon::start("errors") else {
        return;
    };
    let mut c = d.connect();
    let missing = "org.berth.Missing";
    let e = c
        .call(Some(missing), "/org/berth/Missing", missing, "Nothing", &[])
        .unwrap_err()
        .to_string();
    let head = format!(
        "D-Bus call org.berth.Missing.Nothing to org.berth.Missing on unix:path={}/bus: \
         org.freedesktop.DBus.Error.ServiceUnknown: ",
        d._dir.0.display()
    );
    assert!(e.starts_with(&head) && e.len() > head.len(), "{e}");

    let reply = c
        .try_call(Some(BUS), BUS_PATH, BUS, "GetNameOwner", &[Value::U32(1)])
        .unwrap();
    let Err(MethodError { name, message }) = reply else {
        panic!("GetNameOwner(u32) returned {reply:?}");
    };
    assert_eq!(name, "org.freedesktop.DBus.Error.InvalidArgs");
    assert_eq!(
        message.trim_end(),
        "Call to GetNameOwner has wrong args (u, expected s)"
    );
    // Errors leave the connection as it was.
    assert!(c.call(Some(BUS), BUS_PATH, BUS, "GetId", &[]).is_ok());
}

#[test]
fn dbus_signals_are_matched_and_queued() {
    let Some(d) = Daemon::start("signals") else {
        return;
    };
    let mut a = d.connect();
    a.add_match(&format!(
        "type='signal',sender='{BUS}',interface='{BUS}',member='NameOwnerChanged'"
    ))
    .unwrap();

    // Comes while a waits.
    let b = d.connect();
    let b_name = b.unique_name().unwrap().to_owned();
    let m = a
        .wait_signal(5 * SECOND, name_owner_changed(&b_name))
        .unwrap();
    assert_eq!(
        m.body,
        [Value::str(&b_name), Value::str(""), Value::str(&b_name)]
    );
    assert_eq!(m.sender.as_deref(), Some(BUS));
    assert_eq!(m.path.as_deref(), Some(BUS_PATH));

    // Comes while a waits for a reply: the bus sent it before c's Hello
    // reply, so before the reply to a's later call; kept, it is there
    // with no time to wait at all.
    let c = d.connect();
    let c_name = c.unique_name().unwrap().to_owned();
    a.call(Some(BUS), BUS_PATH, BUS, "GetId", &[]).unwrap();
    let m = a
        .wait_signal(Duration::ZERO, name_owner_changed(&c_name))
        .unwrap();
    assert_eq!(m.body[0], Value::str(&c_name));

    // b leaves: its name loses its owner.
    drop(b);
    let m = a
        .wait_signal(5 * SECOND, name_owner_changed(&b_name))
        .unwrap();
    assert_eq!(
        m.body,
        [Value::str(&b_name), Value::str(&b_name), Value::str("")]
    );
}

#[test]
fn dbus_properties_get_returns_a_variant() {
    let Some(d) = Daemon::start("properties") else {
        return;
    };
    let mut c = d.connect();
    let props = "org.freedesktop.DBus.Properties";
    let args = [Value::str(BUS), Value::str("Interfaces")];
    let raw = c.call(Some(BUS), BUS_PATH, props, "Get", &args).unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].signature(), "v");
    let interfaces = c
        .get_property(Some(BUS), BUS_PATH, BUS, "Interfaces")
        .unwrap();
    assert_eq!(Some(&interfaces), raw[0].as_variant());
    assert_eq!(interfaces.signature(), "as");
    let list: Vec<&str> = interfaces
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        list.contains(&"org.freedesktop.DBus.Monitoring"),
        "{list:?}"
    );

    // GetAll: an a{sv}.
    let all = c
        .call(Some(BUS), BUS_PATH, props, "GetAll", &[Value::str(BUS)])
        .unwrap();
    assert_eq!(all[0].signature(), "a{sv}");
    let keys: Vec<&str> = all[0]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_entry()?.0.as_str())
        .collect();
    assert!(
        keys.contains(&"Features") && keys.contains(&"Interfaces"),
        "{keys:?}"
    );

    let e = c
        .get_property(Some(BUS), BUS_PATH, BUS, "Nope")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("org.freedesktop.DBus.Error.UnknownProperty"),
        "{e}"
    );
}

#[test]
fn dbus_calls_and_waits_time_out() {
    let Some(d) = Daemon::start("timeouts") else {
        return;
    };
    let mut a = d.connect();
    // b never reads, so never answers.
    let b = d.connect();
    a.set_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let e = a
        .call(b.unique_name(), "/", "org.berth.Test", "Hang", &[])
        .unwrap_err();
    let took = start.elapsed();
    assert_eq!(e.errno(), Some(Errno::ETIMEDOUT), "{e}");
    assert!(
        took >= Duration::from_millis(300) && took < 5 * SECOND,
        "{took:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("D-Bus call org.berth.Test.Hang to :1.")
            && text.contains("(timeout 300ms)")
            && text.contains(&d.address[..d.address.find(',').unwrap()]),
        "{text}"
    );

    // Still usable.
    a.set_timeout(5 * SECOND);
    assert!(a.call(Some(BUS), BUS_PATH, BUS, "GetId", &[]).is_ok());

    let start = Instant::now();
    let e = a
        .wait_signal(Duration::from_millis(200), |_| false)
        .unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ETIMEDOUT), "{e}");
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(
        e.to_string()
            .contains("wait for a D-Bus signal (timeout 200ms)"),
        "{e}"
    );
}

#[test]
fn dbus_calls_to_berth_are_answered() {
    let Some(d) = Daemon::start("served") else {
        return;
    };
    let mut a = d.connect();
    let a_name = a.unique_name().unwrap().to_owned();
    // a reads (so answers) while b calls it.
    let reader = thread::spawn(move || {
        let e = a.wait_signal(3 * SECOND, |_| false).unwrap_err();
        assert_eq!(e.errno(), Some(Errno::ETIMEDOUT), "{e}");
    });
    let mut b = d.connect();
    let ping = b.call(Some(&a_name), "/", "org.freedesktop.DBus.Peer", "Ping", &[]);
    assert_eq!(ping.unwrap(), []);
    let other = b
        .try_call(Some(&a_name), "/x", "org.berth.Test", "Other", &[])
        .unwrap()
        .unwrap_err();
    assert_eq!(other.name, "org.freedesktop.DBus.Error.UnknownMethod");
    reader.join().unwrap();
}

#[test]
fn dbus_addresses_are_tried_in_order() {
    let Some(d) = Daemon::start("order") else {
        return;
    };
    let list = format!(
        "tcp:host=localhost,port=1;unix:path=/nonexistent/bus;{}",
        d.address
    );
    let mut c = Connection::open(&list, true).unwrap();
    assert!(c.call(Some(BUS), BUS_PATH, BUS, "GetId", &[]).is_ok());
    assert!(d.address.starts_with(c.address()), "{}", c.address());

    let e = Connection::open("unix:path=/nonexistent/a;unix:abstract=berth-none", true)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("connect to D-Bus at unix:path=/nonexistent/a: ENOENT")
            && e.contains("; then: connect to D-Bus at unix:abstract=berth-none: ECONNREFUSED"),
        "{e}"
    );
}

/// Runs this test binary's helper in a new user namespace (with `args`
/// for unshare), connecting to `address`: its exit status and output.
fn in_user_namespace(args: &[&str], address: &str) -> Option<(bool, String)> {
    let exe = std::env::current_exe().unwrap();
    let out = match Command::new("unshare")
        .args(args)
        .arg(exe)
        .args([
            "--exact",
            "dbus_user_namespace_helper",
            "--ignored",
            "--nocapture",
        ])
        .env("BERTH_DBUS_HELPER_ADDRESS", address)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("skipped: no unshare (util-linux)");
            return None;
        }
        Err(e) => panic!("unshare: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    Some((out.status.success(), text.into_owned()))
}

#[test]
fn dbus_a_user_namespace_authenticates_as_its_outer_uid() {
    let Some(d) = Daemon::start("userns") else {
        return;
    };
    // As 1000 inside, which is this uid outside: the bus only accepts the
    // outside uid.
    let Some((ok, out)) = in_user_namespace(
        &["--user", "--map-user=1000", "--map-group=1000"],
        &d.address,
    ) else {
        return;
    };
    assert!(ok && out.contains("helper: connected as :1."), "{out}");
    assert!(out.contains("helper: uid 1000"), "{out}");
    // Unmapped: no uid to claim.
    let (ok, out) = in_user_namespace(&["--user"], &d.address).unwrap();
    assert!(!ok, "{out}");
    assert!(
        out.contains("D-Bus authentication: uid 65534 is not mapped outside this user namespace"),
        "{out}"
    );
}

#[test]
#[ignore = "run by dbus_a_user_namespace_authenticates_as_its_outer_uid, in a user namespace"]
fn dbus_user_namespace_helper() {
    let Ok(address) = std::env::var("BERTH_DBUS_HELPER_ADDRESS") else {
        return;
    };
    println!("helper: uid {}", nix::unistd::geteuid());
    match Connection::open(&address, true) {
        Ok(c) => println!("helper: connected as {}", c.unique_name().unwrap()),
        Err(e) => panic!("helper: {e}"),
    }
}

/// A server played by the test on a socket in `dir`: `serve` gets the
/// accepted connection.
fn fake_server(
    dir: &TempDir,
    serve: impl FnOnce(UnixStream) + Send + 'static,
) -> (String, thread::JoinHandle<()>) {
    let path = dir.path("server");
    let listener = UnixListener::bind(&path).unwrap();
    let t = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(stream);
    });
    (format!("unix:path={}", path.display()), t)
}

/// One line, a byte at a time: what follows it (the client's first
/// message, after BEGIN) stays in the socket.
fn read_line(s: &mut UnixStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8];
    while line.last() != Some(&b'\n') && s.read(&mut b).unwrap() == 1 {
        line.push(b[0]);
    }
    String::from_utf8(line).unwrap()
}

/// Reads the client's authentication: its AUTH line and, pipelined
/// behind it, BEGIN (see auth.rs for why); answers with `answer`.
fn fake_auth(s: &mut UnixStream, answer: &str) -> String {
    let auth = read_line(s);
    assert_eq!(read_line(s), "BEGIN\r\n");
    s.write_all(answer.as_bytes()).unwrap();
    auth
}

fn read_message(s: &mut UnixStream) -> Message {
    let mut head = [0u8; FIXED_HEADER];
    s.read_exact(&mut head).unwrap();
    let mut bytes = head.to_vec();
    bytes.resize(frame_len(&head).unwrap(), 0);
    s.read_exact(&mut bytes[FIXED_HEADER..]).unwrap();
    Message::decode(&bytes).unwrap().unwrap()
}

fn write_message(s: &mut UnixStream, mut m: Message, serial: u32) {
    m.serial = serial;
    s.write_all(&m.encode().unwrap()).unwrap();
}

#[test]
fn dbus_authentication_failures_are_explained() {
    let hex: String = nix::unistd::geteuid()
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    for (answer, why) in [
        (
            "REJECTED DBUS_COOKIE_SHA1 ANONYMOUS\r\n",
            "rejected EXTERNAL authentication as uid",
        ),
        ("ERROR \"nope\"\r\n", "answered AUTH EXTERNAL with an error"),
        ("HELLO\r\n", "unexpected answer to AUTH EXTERNAL: \"HELLO\""),
        ("", "the server closed the connection"),
    ] {
        let dir = TempDir::new("auth");
        let expect = format!("\0AUTH EXTERNAL {hex}\r\n");
        let (address, server) = fake_server(&dir, move |mut s| {
            assert_eq!(fake_auth(&mut s, answer), expect);
        });
        let e = Connection::open(&address, true).unwrap_err().to_string();
        server.join().unwrap();
        assert!(e.contains(why) && e.contains(&address), "{e}");
    }
}

#[test]
fn dbus_a_silent_server_times_out() {
    let dir = TempDir::new("silent");
    let path = dir.path("server");
    // Bound and listening, never accepting: connect succeeds, and the
    // authentication waits.
    let _listener = UnixListener::bind(&path).unwrap();
    let start = Instant::now();
    let address = format!("unix:path={}", path.display());
    let e = Connection::open_timeout(&address, true, Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ETIMEDOUT), "{e}");
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(
        e.to_string()
            .contains(&format!("read from D-Bus at {address}")),
        "{e}"
    );
}

/// A direct connection, as to systemd's private socket: no Hello, a
/// signal sent without any match rule, before the reply to the call.
#[test]
fn dbus_a_direct_connection_gets_signals_without_a_match() {
    let dir = TempDir::new("direct");
    let (_, server) = fake_server(&dir, |mut s| {
        fake_auth(&mut s, "OK 0123456789abcdef0123456789abcdef\r\n");
        let call = read_message(&mut s);
        assert!(call.is_call("org.freedesktop.systemd1.Manager", "StartTransientUnit"));
        assert_eq!(call.destination, None);
        assert_eq!(call.signature(), "ssa(sv)a(sa(sv))");
        let job = "/org/freedesktop/systemd1/job/7";
        let removed = Message::signal(
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "JobRemoved",
            vec![
                Value::U32(7),
                Value::object_path(job),
                Value::str("x.scope"),
                Value::str("done"),
            ],
        );
        write_message(&mut s, removed, 1);
        write_message(
            &mut s,
            Message::method_return(&call, vec![Value::object_path(job)]),
            2,
        );
        // Then garbage: the connection is unusable afterwards.
        let _ = read_message(&mut s);
        s.write_all(b"xyzw0123456789abcdef").unwrap();
    });
    let mut c = Connection::direct(&dir.path("server")).unwrap();
    assert_eq!(c.unique_name(), None);
    c.add_match("type='signal'").unwrap();
    let props = Value::Array(
        "(sv)".into(),
        vec![Value::Struct(vec![
            Value::str("Delegate"),
            Value::variant(Value::Bool(true)),
        ])],
    );
    let reply = c
        .call(
            None,
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            "StartTransientUnit",
            &[
                Value::str("x.scope"),
                Value::str("fail"),
                props,
                Value::Array("(sa(sv))".into(), vec![]),
            ],
        )
        .unwrap();
    let job = reply[0].as_str().unwrap().to_owned();
    let m = c
        .wait_signal(Duration::ZERO, |m| {
            m.is_signal("org.freedesktop.systemd1.Manager", "JobRemoved")
                && m.body.get(1).and_then(Value::as_str) == Some(&job)
        })
        .unwrap();
    assert_eq!(m.kind, Kind::Signal);
    assert_eq!(m.body[3], Value::str("done"));

    let e = c
        .call(None, "/", "org.berth.Test", "Garbage", &[])
        .unwrap_err();
    assert!(e.to_string().contains("byte order 0x78"), "{e}");
    let e = c
        .call(None, "/", "org.berth.Test", "Again", &[])
        .unwrap_err();
    assert!(
        e.to_string().contains("unusable after an earlier error"),
        "{e}"
    );
    server.join().unwrap();
}

#[test]
fn dbus_abstract_addresses_connect() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("berth-dbus-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        fake_auth(&mut s, "OK 0123456789abcdef0123456789abcdef\r\n");
    });
    let c = Connection::open(&format!("unix:abstract={name}"), false).unwrap();
    assert_eq!(c.address(), format!("unix:abstract={name}"));
    server.join().unwrap();
}

/// The user's bus when no address is given: $XDG_RUNTIME_DIR/bus. (Only
/// this test sets these variables in this binary, and it runs them in a
/// child, so that no other test sees them.)
#[test]
fn dbus_the_users_bus_is_found_in_xdg_runtime_dir() {
    let Some(d) = Daemon::start("user") else {
        return;
    };
    let dir = d._dir.0.clone();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "dbus_user_bus_helper",
            "--ignored",
            "--nocapture",
        ])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("XDG_RUNTIME_DIR", &dir)
        .env("BERTH_DBUS_HELPER_USER", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("helper: user bus :1."),
        "{text}"
    );
}

#[test]
#[ignore = "run by dbus_the_users_bus_is_found_in_xdg_runtime_dir"]
fn dbus_user_bus_helper() {
    if std::env::var_os("BERTH_DBUS_HELPER_USER").is_none() {
        return;
    }
    let c = Connection::user().unwrap();
    println!("helper: user bus {}", c.unique_name().unwrap());
}
