//! ttrpc, containerd's RPC over a unix socket, served and called with no
//! idle thread of its own.
//!
//! The ttrpc crate's synchronous server keeps, for a shim with one
//! containerd connection, seven threads: a listener, a reaper of
//! connections, and per connection a handler, a reader, a writer and a
//! pool of idle workers; its client keeps two more (a writer, and a reader
//! that wakes every 10 ms to poll a socket pair, in every idle shim). Each
//! sleeping thread holds the touched top of its stack (4 to 16 KiB, private)
//! and a kernel stack, and every request crossed three of them. Here:
//!
//! - [`serve`] accepts on the caller's thread; each connection has one
//!   reader thread, and each request runs on a thread of its own that
//!   writes its answer and ends. Requests are as concurrent as containerd
//!   makes them (a Wait holds its thread for the life of the process it
//!   waits for, while other requests keep coming), with nothing idle.
//! - [`Client`] is a blocking client for one caller (the events thread):
//!   it writes a request and reads the answer on the caller's thread.
//!
//! The messages and the method table are the crate's (`create_task`'s
//! handlers encode their answers themselves); only the transport is ours.
//! The wire format: a 10-byte header (length and stream id, big-endian
//! u32s, then a type and a flags byte) and a protobuf Request or Response;
//! a client numbers its streams 1, 3, 5...

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::ttrpc::proto::{
    MESSAGE_HEADER_LENGTH, MESSAGE_LENGTH_MAX, MESSAGE_TYPE_REQUEST, MESSAGE_TYPE_RESPONSE,
};
use containerd_shim::protos::ttrpc::{
    self, get_status, Code, MessageHeader, MethodHandler, Request, Response, Status, TtrpcContext,
};

pub type Methods = HashMap<String, Box<dyn MethodHandler + Send + Sync>>;

/// What [`serve`] needs to stop: a flag the service raises (Shutdown) and
/// the requests still running.
#[derive(Default)]
pub struct Stop {
    requested: AtomicBool,
    in_flight: Mutex<usize>,
    idle: Condvar,
}

impl Stop {
    /// Asks [`serve`] to return once the request that asked has answered.
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    fn add(&self, n: isize) {
        let mut c = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        *c = c.saturating_add_signed(n);
        if *c == 0 {
            self.idle.notify_all();
        }
    }
}

/// Serves `methods` on `listener` until `stop` is requested. Then waits,
/// at most `grace`, for the requests still running to answer (after
/// Shutdown with `now`, the Waits of the processes it killed), and returns.
pub fn serve(listener: UnixListener, methods: Methods, stop: Arc<Stop>, grace: Duration) {
    let methods = Arc::new(methods);
    let listener = Arc::new(listener);
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                let (m, s, l) = (methods.clone(), stop.clone(), listener.clone());
                // 64 KiB: the reader only frames messages.
                let spawned = std::thread::Builder::new()
                    .name("ttrpc".into())
                    .stack_size(64 * 1024)
                    .spawn(move || read_requests(conn, m, s, l));
                if let Err(e) = spawned {
                    log::error!("ttrpc: no thread for a connection: {e}");
                }
            }
            Err(_) if stop.requested() => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE and the like: not repaired by retrying at once.
                log::error!("ttrpc: accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let deadline = Instant::now() + grace;
    let mut c = stop.in_flight.lock().unwrap_or_else(|e| e.into_inner());
    while *c > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        c = stop
            .idle
            .wait_timeout(c, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// One connection: reads requests and starts a thread for each, until
/// containerd closes it (or sends what is not ttrpc).
fn read_requests(
    conn: UnixStream,
    methods: Arc<Methods>,
    stop: Arc<Stop>,
    listener: Arc<UnixListener>,
) {
    let writer = match conn.try_clone() {
        Ok(w) => Arc::new(Mutex::new(w)),
        Err(e) => {
            log::error!("ttrpc: {e}");
            return;
        }
    };
    let fd = conn.as_raw_fd();
    let mut reader = conn;
    loop {
        let (mh, body) = match read_message(&mut reader) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                log::warn!("ttrpc: connection dropped: {e}");
                return;
            }
        };
        if mh.type_ != MESSAGE_TYPE_REQUEST {
            // Streams and their data are not part of the task API.
            continue;
        }
        stop.add(1);
        let work = {
            let (m, w, s, l) = (
                methods.clone(),
                writer.clone(),
                stop.clone(),
                listener.clone(),
            );
            move || {
                let answer = match body {
                    Some(body) => call(&m, mh, &body, fd),
                    None => error_response(
                        mh.stream_id,
                        get_status(Code::INVALID_ARGUMENT, "message too large"),
                    ),
                };
                if let Err(e) =
                    write_message(&mut *w.lock().unwrap_or_else(|e| e.into_inner()), &answer)
                {
                    log::warn!("ttrpc: answer to stream {}: {e}", mh.stream_id);
                }
                s.add(-1);
                if s.requested() {
                    // Wakes serve's accept (EINVAL from then on).
                    // SAFETY: shutdown on a socket we own; it stays open.
                    unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
                }
            }
        };
        // A request's thread lives as long as its handler: a Wait, as long
        // as the process it waits for. The stack is Rust's default (2 MiB
        // reserved; only the pages a handler touches become resident).
        if let Err(e) = std::thread::Builder::new()
            .name("request".into())
            .spawn(work)
        {
            log::error!("ttrpc: no thread for a request: {e}");
            let answer = error_response(mh.stream_id, get_status(Code::RESOURCE_EXHAUSTED, e));
            let _ = write_message(
                &mut *writer.lock().unwrap_or_else(|e| e.into_inner()),
                &answer,
            );
            stop.add(-1);
        }
    }
}

/// Runs one request through its method's handler; returns the message to
/// write back (header and body).
fn call(methods: &Methods, mh: MessageHeader, body: &[u8], fd: i32) -> (MessageHeader, Vec<u8>) {
    let req = match Request::parse_from_bytes(body) {
        Ok(r) => r,
        Err(e) => return error_response(mh.stream_id, get_status(Code::INVALID_ARGUMENT, e)),
    };
    let path = format!("/{}/{}", req.service, req.method);
    let Some(method) = methods.get(&path) else {
        return error_response(
            mh.stream_id,
            get_status(Code::UNIMPLEMENTED, format!("{path} is not served")),
        );
    };
    let (tx, rx) = mpsc::channel();
    let ctx = TtrpcContext {
        fd,
        // Nothing here cancels a request: its handler runs to the end, as
        // the task logic expects.
        cancel_rx: crossbeam_channel::never(),
        mh,
        res_tx: tx,
        metadata: ttrpc::context::from_pb(&req.metadata),
        timeout_nano: req.timeout_nano,
    };
    // The generated handlers decode the payload, call the service and send
    // the encoded answer to res_tx; they fail only when the payload does
    // not decode (or the answer does not encode).
    match method.handler(ctx, req) {
        Ok(()) => rx.try_recv().unwrap_or_else(|_| {
            error_response(mh.stream_id, get_status(Code::INTERNAL, "no answer"))
        }),
        Err(ttrpc::Error::RpcStatus(s)) => error_response(mh.stream_id, s),
        Err(e) => error_response(mh.stream_id, get_status(Code::INVALID_ARGUMENT, e)),
    }
}

fn error_response(stream_id: u32, status: Status) -> (MessageHeader, Vec<u8>) {
    let mut res = Response::new();
    res.set_status(status);
    let body = res.write_to_bytes().unwrap_or_default();
    (header(stream_id, MESSAGE_TYPE_RESPONSE, body.len()), body)
}

fn header(stream_id: u32, type_: u8, len: usize) -> MessageHeader {
    MessageHeader {
        length: len as u32,
        stream_id,
        type_,
        flags: 0,
    }
}

/// Reads one message: None at a clean end of the connection; a body of
/// None when the message is over ttrpc's size limit (it is read and
/// dropped, so the connection stays usable).
fn read_message(r: &mut impl Read) -> io::Result<Option<(MessageHeader, Option<Vec<u8>>)>> {
    let mut h = [0u8; MESSAGE_HEADER_LENGTH];
    let mut got = 0;
    while got < h.len() {
        match r.read(&mut h[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mh = MessageHeader {
        length: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        stream_id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        type_: h[8],
        flags: h[9],
    };
    let len = mh.length as usize;
    if len > MESSAGE_LENGTH_MAX {
        io::copy(&mut r.take(len as u64), &mut io::sink())?;
        return Ok(Some((mh, None)));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some((mh, Some(body))))
}

fn write_message(w: &mut impl Write, (mh, body): &(MessageHeader, Vec<u8>)) -> io::Result<()> {
    let mut msg = Vec::with_capacity(MESSAGE_HEADER_LENGTH + body.len());
    msg.extend_from_slice(&mh.length.to_be_bytes());
    msg.extend_from_slice(&mh.stream_id.to_be_bytes());
    msg.push(mh.type_);
    msg.push(mh.flags);
    msg.extend_from_slice(body);
    w.write_all(&msg)
}

/// A blocking ttrpc client for one caller at a time.
pub struct Client {
    conn: UnixStream,
    next_stream: u32,
}

impl Client {
    /// Connects to a unix socket address as containerd gives it.
    pub fn connect(address: &str) -> io::Result<Client> {
        let fd = containerd_shim::util::connect(address).map_err(io::Error::other)?;
        // SAFETY: connect returns a socket that is ours alone.
        let conn = unsafe { UnixStream::from_raw_fd(fd) };
        Ok(Client {
            conn,
            next_stream: 1,
        })
    }

    /// Calls `service`'s `method` with an encoded request; returns the
    /// encoded answer, or the error status's message.
    pub fn call(
        &mut self,
        service: &str,
        method: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let req = Request {
            service: service.into(),
            method: method.into(),
            payload,
            ..Default::default()
        };
        let body = req.write_to_bytes().map_err(|e| e.to_string())?;
        let stream = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(2);
        let mh = header(stream, MESSAGE_TYPE_REQUEST, body.len());
        write_message(&mut self.conn, &(mh, body)).map_err(|e| e.to_string())?;
        loop {
            let (mh, body) = read_message(&mut self.conn)
                .map_err(|e| e.to_string())?
                .ok_or("connection closed")?;
            // One caller, one request at a time: another stream's answer
            // can only be a stale one.
            if mh.type_ != MESSAGE_TYPE_RESPONSE || mh.stream_id != stream {
                continue;
            }
            let res = Response::parse_from_bytes(&body.ok_or("answer too large")?)
                .map_err(|e| e.to_string())?;
            let status = res.status.get_or_default();
            if status.code() != Code::OK {
                return Err(format!("{:?}: {}", status.code(), status.message));
            }
            return Ok(res.payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test service: Echo answers its payload, Block waits for Release,
    /// Stop asks the server to stop.
    struct Test {
        name: &'static str,
        release: Arc<(Mutex<bool>, Condvar)>,
        stop: Arc<Stop>,
    }

    impl MethodHandler for Test {
        fn handler(&self, ctx: TtrpcContext, req: Request) -> ttrpc::Result<()> {
            let (flag, cv) = &*self.release;
            let payload = match self.name {
                "Echo" => req.payload,
                "Block" => {
                    let g = flag.lock().unwrap();
                    let (g, _) = cv
                        .wait_timeout_while(g, Duration::from_secs(10), |r| !*r)
                        .unwrap();
                    if *g {
                        b"released".to_vec()
                    } else {
                        b"timed out".to_vec()
                    }
                }
                "Release" => {
                    *flag.lock().unwrap() = true;
                    cv.notify_all();
                    Vec::new()
                }
                _ => {
                    self.stop.request();
                    Vec::new()
                }
            };
            let mut res = Response::new();
            res.set_status(get_status(Code::OK, ""));
            res.payload = payload;
            ttrpc::response_to_channel(ctx.mh.stream_id, res, ctx.res_tx)
        }
    }

    fn request(stream: u32, method: &str) -> (MessageHeader, Vec<u8>) {
        let body = Request {
            service: "t.T".into(),
            method: method.into(),
            ..Default::default()
        }
        .write_to_bytes()
        .unwrap();
        (header(stream, MESSAGE_TYPE_REQUEST, body.len()), body)
    }

    #[test]
    fn requests_on_one_connection_run_concurrently_and_stop_ends_serve() {
        /// The socket's directory, removed also when an assertion fails.
        struct TempDir(std::path::PathBuf);
        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("berth-shim-rpc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        let path = dir.0.join("s");
        let listener = UnixListener::bind(&path).unwrap();
        let stop = Arc::new(Stop::default());
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let mut methods = Methods::new();
        for name in ["Echo", "Block", "Release", "Stop"] {
            let t = Test {
                name,
                release: release.clone(),
                stop: stop.clone(),
            };
            methods.insert(format!("/t.T/{name}"), Box::new(t));
        }
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || serve(listener, methods, stop, Duration::from_secs(2)))
        };

        // Block, then Release on the same connection: Block can only be
        // released if Release runs while it waits (the two answers may
        // come in either order).
        let mut conn = UnixStream::connect(&path).unwrap();
        write_message(&mut conn, &request(1, "Block")).unwrap();
        write_message(&mut conn, &request(3, "Release")).unwrap();
        let mut answers = Vec::new();
        for _ in 0..2 {
            let (mh, body) = read_message(&mut conn).unwrap().unwrap();
            let res = Response::parse_from_bytes(&body.unwrap()).unwrap();
            answers.push((mh.stream_id, mh.type_, res.payload));
        }
        answers.sort();
        assert_eq!(
            answers,
            [
                (1, MESSAGE_TYPE_RESPONSE, b"released".to_vec()),
                (3, MESSAGE_TYPE_RESPONSE, Vec::new()),
            ]
        );

        let addr = path.to_str().unwrap();
        let mut client = Client::connect(addr).unwrap();
        assert_eq!(client.call("t.T", "Echo", b"hi".to_vec()).unwrap(), b"hi");
        let err = client.call("t.T", "Nope", Vec::new()).unwrap_err();
        assert!(err.contains("UNIMPLEMENTED"), "{err}");
        // A payload that is not a Request is answered, and the connection
        // still serves.
        write_message(
            &mut conn,
            &(header(5, MESSAGE_TYPE_REQUEST, 3), vec![0xff; 3]),
        )
        .unwrap();
        let (mh, body) = read_message(&mut conn).unwrap().unwrap();
        let res = Response::parse_from_bytes(&body.unwrap()).unwrap();
        assert_eq!(
            (mh.stream_id, res.status.code()),
            (5, Code::INVALID_ARGUMENT)
        );
        assert_eq!(
            client.call("t.T", "Echo", b"again".to_vec()).unwrap(),
            b"again"
        );

        // Stop is answered, then serve returns.
        assert!(client.call("t.T", "Stop", Vec::new()).is_ok());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !server.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let finished = server.is_finished();
        drop(dir);
        assert!(finished, "serve still running after Stop");
        server.join().unwrap();
    }

    #[test]
    fn messages_round_trip_and_oversize_bodies_are_skipped() {
        let mut wire = Vec::new();
        write_message(
            &mut wire,
            &(header(7, MESSAGE_TYPE_REQUEST, 3), b"abc".to_vec()),
        )
        .unwrap();
        // An oversized message: a header that announces more than ttrpc
        // allows, and the bytes, then a normal one.
        let big = MESSAGE_LENGTH_MAX + 1;
        write_message(
            &mut wire,
            &(header(9, MESSAGE_TYPE_REQUEST, big), vec![0; big]),
        )
        .unwrap();
        write_message(
            &mut wire,
            &(header(11, MESSAGE_TYPE_RESPONSE, 1), b"z".to_vec()),
        )
        .unwrap();
        let mut r = &wire[..];
        let (mh, body) = read_message(&mut r).unwrap().unwrap();
        assert_eq!(
            (mh.stream_id, mh.type_, body.unwrap()),
            (7, MESSAGE_TYPE_REQUEST, b"abc".to_vec())
        );
        let (mh, body) = read_message(&mut r).unwrap().unwrap();
        assert_eq!((mh.stream_id, body), (9, None));
        let (mh, body) = read_message(&mut r).unwrap().unwrap();
        assert_eq!(
            (mh.stream_id, mh.type_, body.unwrap()),
            (11, MESSAGE_TYPE_RESPONSE, b"z".to_vec())
        );
        assert!(read_message(&mut r).unwrap().is_none());
        // A header cut short is an error, not an end.
        let mut short = &wire[..4];
        assert!(read_message(&mut short).is_err());
    }
}
