//! A minimal, synchronous D-Bus client, for the systemd cgroup driver:
//! method calls (StartTransientUnit, StopUnit, Properties.Get…), match
//! rules, and waiting for a signal (a job's JobRemoved), on the system or
//! the user's bus, or directly on systemd's private socket.
//!
//! Why not zbus: berth is synchronous and single-threaded up to its last
//! clone, and what it links costs every container start; zbus's blocking
//! API runs an async executor on threads of its own. Measured on the
//! development VM from commit 67d060a, with `hack/build` (static, musl,
//! opt-level z) and `/usr/bin/time`, against a dbus-daemon: one `GetId`
//! call made from the CLI, by this client and by zbus 5.19 with no
//! default features but the two its blocking API needs (`async-io`,
//! `blocking-api`):
//!
//! |                                   | no client   | this client       | zbus               |
//! |-----------------------------------|-------------|-------------------|--------------------|
//! | static berth, bytes               | 3 200 968   | 3 297 144 (+3 %)  | 4 172 320 (+30 %)  |
//! | `cargo tree -p berth`, lines      | 92          | 92                | 245                |
//! | crates linked (see below)         | 57          | 57                | 125                |
//! | `berth --version`, peak RSS       | 1 028 KiB   | 1 028 KiB         | 1 284 KiB          |
//! | the same with the call            |             | 1 416 KiB         | 2 056 KiB          |
//! | threads the call starts           |             | 0                 | 3                  |
//!
//! Crates linked: `cargo tree -p berth -e normal --prefix none | sort -u`.
//! Until the cgroup driver calls it, this module is not linked at all.
//!
//! On the cgroupfs path (no `--systemd-cgroup`) nothing here runs. With
//! the driver linked (c9a6fbd against 67d060a, `hack/bench --baseline`,
//! two runs): `run` 1.00–1.02 of the time, create to delete 0.98–1.09,
//! but create's peak RSS 1.18 (2112 against 1796 KiB): the binary is
//! 141 KB larger, and the code and data create touches fall in more of
//! the 64 KiB blocks the kernel maps around a page fault (199 faults
//! against 191). docs/performance.md has the figures.
//!
//! What it does, after the D-Bus specification: unix-socket addresses
//! ([`address`]), SASL EXTERNAL with the uid as the bus sees it
//! ([`auth`]), the marshalling format for every type ([`wire`],
//! [`value`], [`signature`]), the four kinds of message ([`message`]),
//! and on a [`Connection`] `Hello` on a bus, calls whose replies are
//! matched by serial, signals queued while a call waits. Every wait has
//! a deadline (`ETIMEDOUT` when it passes). No descriptor passing, no
//! other transports, no serving of methods beyond an error reply (and
//! `Peer.Ping`) to a call made to it.

pub mod address;
pub mod auth;
pub mod message;
pub mod names;
pub mod signature;
mod transport;
pub mod value;
pub mod wire;

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;

pub use address::Address;
pub use message::{Kind, Message};
pub use value::Value;

use crate::error::{Context, Error, Result};
use transport::Transport;

/// How long a call waits for its reply, and connecting for the server.
/// Less than a job's: systemd answers a call at once and runs the job
/// afterwards.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// For a caller waiting for a job's JobRemoved: starting a scope takes
/// milliseconds, but systemd may be busy with other jobs.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// Signals kept while nobody waits for them; past this the oldest go. A
/// direct connection to systemd gets every signal it emits once
/// subscribed, wanted or not.
const MAX_QUEUED: usize = 4096;

const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// An error reply: its D-Bus error name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodError {
    pub name: String,
    pub message: String,
}

impl std::fmt::Display for MethodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

pub struct Connection {
    io: Transport,
    bus: bool,
    serial: u32,
    timeout: Duration,
    unique_name: Option<String>,
    signals: VecDeque<Message>,
    /// Why the connection can no longer be used: the server closed it,
    /// or sent what berth could not read (so where the next message
    /// starts is unknown).
    broken: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.io.name)
            .field("bus", &self.bus)
            .field("unique_name", &self.unique_name)
            .field("queued_signals", &self.signals.len())
            .field("broken", &self.broken)
            .finish()
    }
}

impl Connection {
    /// The system bus: `$DBUS_SYSTEM_BUS_ADDRESS`, else the well-known
    /// socket.
    pub fn system() -> Result<Connection> {
        let list = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .unwrap_or_else(|_| "unix:path=/run/dbus/system_bus_socket".into());
        Self::open(&list, true).context("D-Bus system bus")
    }

    /// The user's bus: `$DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`.
    pub fn user() -> Result<Connection> {
        if let Ok(list) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            return Self::open(&list, true).context("D-Bus user bus");
        }
        let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") else {
            return Err(Error::invalid(
                "D-Bus user bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set",
            ));
        };
        let address = Address::Path(Path::new(&dir).join("bus"));
        Self::connect(&address, true, CALL_TIMEOUT).context("D-Bus user bus")
    }

    /// A peer-to-peer connection to a server's socket, such as systemd's
    /// /run/systemd/private (or $XDG_RUNTIME_DIR/systemd/private for a
    /// user's manager): no bus, so no Hello, and no match rules.
    pub fn direct(path: &Path) -> Result<Connection> {
        Self::connect(&Address::Path(path.to_owned()), false, CALL_TIMEOUT)
    }

    /// The first address of a `;`-separated list that connects. `bus`:
    /// the server is a message bus (so berth says Hello).
    pub fn open(addresses: &str, bus: bool) -> Result<Connection> {
        Self::open_timeout(addresses, bus, CALL_TIMEOUT)
    }

    /// [`Connection::open`], `timeout` bounding each address's connection
    /// and authentication and, afterwards, each call.
    pub fn open_timeout(addresses: &str, bus: bool, timeout: Duration) -> Result<Connection> {
        let mut failures = Vec::new();
        for address in address::parse_list(addresses) {
            match address.and_then(|a| Self::connect(&a, bus, timeout)) {
                Ok(c) => return Ok(c),
                Err(e) => failures.push(e),
            }
        }
        let last = failures.pop().expect("parse_list gives at least one entry");
        if failures.is_empty() {
            return Err(last);
        }
        let before: Vec<String> = failures.iter().map(Error::to_string).collect();
        Err(last).with_context(|| format!("{}; then", before.join("; then: ")))
    }

    fn connect(address: &Address, bus: bool, timeout: Duration) -> Result<Connection> {
        let deadline = Instant::now() + timeout;
        let mut io = Transport::connect(address, deadline)?;
        auth::authenticate(&mut io, auth::outer_uid()?, deadline)?;
        let mut c = Connection {
            io,
            bus,
            serial: 0,
            timeout,
            unique_name: None,
            signals: VecDeque::new(),
            broken: None,
        };
        if bus {
            let reply = c.call(Some(BUS_NAME), BUS_PATH, BUS_NAME, "Hello", &[])?;
            match reply.first().and_then(Value::as_str) {
                Some(name) => c.unique_name = Some(name.to_owned()),
                None => {
                    return Err(Error::invalid(format!(
                        "D-Bus at {}: Hello returned {reply:?}, not a name",
                        c.io.name
                    )))
                }
            }
        }
        Ok(c)
    }

    /// The address connected to, as errors name it.
    pub fn address(&self) -> &str {
        &self.io.name
    }

    /// The name the bus gave this connection (`:1.42`); None on a direct
    /// connection.
    pub fn unique_name(&self) -> Option<&str> {
        self.unique_name.as_deref()
    }

    /// How long a call waits for its reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Calls a method and returns its reply's values; an error reply is an
    /// error reading `name: message`.
    pub fn call(
        &mut self,
        destination: Option<&str>,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        let what = describe(destination, interface, member);
        match self.try_call(destination, path, interface, member, args)? {
            Ok(values) => Ok(values),
            Err(e) => Err(Error::invalid(format!("{what} on {}: {e}", self.io.name))),
        }
    }

    /// Calls a method: the reply's values, or the error reply for the
    /// caller to look at (`org.freedesktop.systemd1.NoSuchUnit`…); Err
    /// only when there was no reply.
    pub fn try_call(
        &mut self,
        destination: Option<&str>,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<std::result::Result<Vec<Value>, MethodError>> {
        let timeout = self.timeout;
        let deadline = Instant::now() + timeout;
        let msg = Message::method_call(destination, path, interface, member, args.to_vec());
        // What failed below names the address already.
        self.call_message(msg, deadline).with_context(|| {
            format!(
                "{} (timeout {timeout:?})",
                describe(destination, interface, member)
            )
        })
    }

    fn call_message(
        &mut self,
        msg: Message,
        deadline: Instant,
    ) -> Result<std::result::Result<Vec<Value>, MethodError>> {
        let serial = self.send(msg, deadline)?;
        loop {
            let m = self.receive(deadline)?;
            if m.reply_serial != Some(serial) {
                self.set_aside(m, deadline)?;
                continue;
            }
            return Ok(match m.kind {
                Kind::MethodReturn => Ok(m.body),
                Kind::Error => Err(MethodError {
                    name: m.error_name.unwrap_or_default(),
                    message: m
                        .body
                        .first()
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                }),
                // A call or signal cannot carry a reply serial that
                // matters: the spec says to ignore it there.
                _ => {
                    self.set_aside(m, deadline)?;
                    continue;
                }
            });
        }
    }

    /// `org.freedesktop.DBus.Properties.Get`: the property's value, out of
    /// its variant.
    pub fn get_property(
        &mut self,
        destination: Option<&str>,
        path: &str,
        interface: &str,
        name: &str,
    ) -> Result<Value> {
        let args = [Value::str(interface), Value::str(name)];
        let mut reply = self.call(destination, path, PROPERTIES, "Get", &args)?;
        match reply.pop() {
            Some(Value::Variant(v)) if reply.is_empty() => Ok(*v),
            other => Err(Error::invalid(format!(
                "{} on {}: property {interface}.{name}: a variant expected, got {other:?}",
                describe(destination, PROPERTIES, "Get"),
                self.io.name
            ))),
        }
    }

    /// Asks the bus for the messages that match `rule` (signals, mostly).
    /// On a direct connection there is no bus: the peer sends its signals
    /// anyway (systemd does, to every direct connection subscribed), so
    /// this does nothing.
    pub fn add_match(&mut self, rule: &str) -> Result<()> {
        if self.bus {
            self.call(
                Some(BUS_NAME),
                BUS_PATH,
                BUS_NAME,
                "AddMatch",
                &[Value::str(rule)],
            )?;
        }
        Ok(())
    }

    /// The first signal for which `pred` is true: one that came while a
    /// call waited, or one that comes within `timeout`. Other signals are
    /// kept for a later wait.
    pub fn wait_signal(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Message) -> bool,
    ) -> Result<Message> {
        if let Some(i) = self.signals.iter().position(&mut pred) {
            return Ok(self.signals.remove(i).expect("position is in range"));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let m = self
                .receive(deadline)
                .with_context(|| format!("wait for a D-Bus signal (timeout {timeout:?})"))?;
            if m.kind == Kind::Signal && pred(&m) {
                return Ok(m);
            }
            self.set_aside(m, deadline)?;
        }
    }

    /// Sends a message, giving it the next serial, which it returns.
    pub fn send(&mut self, mut msg: Message, deadline: Instant) -> Result<u32> {
        self.check_usable()?;
        self.serial = self.serial.checked_add(1).unwrap_or(1);
        msg.serial = self.serial;
        let bytes = msg.encode()?;
        self.io.send(&bytes, deadline).inspect_err(|e| {
            if e.errno() != Some(Errno::ETIMEDOUT) {
                self.broken = Some(e.to_string());
            }
        })?;
        Ok(msg.serial)
    }

    fn check_usable(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(Error::invalid(format!(
                "D-Bus connection to {} unusable after an earlier error: {why}",
                self.io.name
            ))),
            None => Ok(()),
        }
    }

    /// The next message of a type berth knows.
    fn receive(&mut self, deadline: Instant) -> Result<Message> {
        self.check_usable()?;
        loop {
            let frame = self.io.read_frame(deadline).and_then(|f| {
                Message::decode(&f).with_context(|| format!("D-Bus at {}", self.io.name))
            });
            match frame {
                Ok(Some(m)) => return Ok(m),
                Ok(None) => continue,
                // A timeout leaves the stream where it was: the rest of a
                // message may still come.
                Err(e) if e.errno() == Some(Errno::ETIMEDOUT) => return Err(e),
                Err(e) => {
                    self.broken = Some(e.to_string());
                    return Err(e);
                }
            }
        }
    }

    /// A message that is not what is being waited for: a signal is kept,
    /// a call answered, a late reply dropped.
    fn set_aside(&mut self, m: Message, deadline: Instant) -> Result<()> {
        match m.kind {
            Kind::Signal => {
                if self.signals.len() == MAX_QUEUED {
                    self.signals.pop_front();
                }
                self.signals.push_back(m);
            }
            Kind::MethodCall if m.flags & message::NO_REPLY_EXPECTED == 0 => {
                // Every peer should answer Ping; anything else would leave
                // its caller waiting for a timeout.
                let reply = if m.is_call("org.freedesktop.DBus.Peer", "Ping") {
                    Message::method_return(&m, Vec::new())
                } else {
                    Message::error(
                        &m,
                        "org.freedesktop.DBus.Error.UnknownMethod",
                        &format!("berth's D-Bus client serves no method ({})", m.name()),
                    )
                };
                self.send(reply, deadline)?;
            }
            _ => {}
        }
        Ok(())
    }
}

fn describe(destination: Option<&str>, interface: &str, member: &str) -> String {
    match destination {
        Some(d) => format!("D-Bus call {interface}.{member} to {d}"),
        None => format!("D-Bus call {interface}.{member}"),
    }
}
