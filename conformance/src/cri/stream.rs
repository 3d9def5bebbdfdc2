//! A client of containerd's streaming server, the one kubelet hands out
//! for `kubectl exec` and `attach`: the URL of an Exec or Attach response,
//! opened as a WebSocket with Kubernetes' `v4.channel.k8s.io` protocol.
//! Each binary message starts with its channel: 0 stdin, 1 stdout,
//! 2 stderr, 3 the final status (a JSON `metav1.Status`), 4 resize.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

const PROTOCOL: &str = "v4.channel.k8s.io";

pub struct Session {
    ws: WebSocket<TcpStream>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The status sent on channel 3, once it came.
    pub status: Option<serde_json::Value>,
    pub closed: bool,
}

impl Session {
    /// Connects to `url` (`http://127.0.0.1:PORT/exec/TOKEN`).
    pub fn open(url: &str) -> Result<Session, String> {
        let ws_url = url.replacen("http://", "ws://", 1);
        let authority = ws_url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| format!("not an http URL: {url}"))?;
        let tcp = TcpStream::connect(authority).map_err(|e| format!("connect {authority}: {e}"))?;
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| e.to_string())?;
        let mut req = ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| e.to_string())?;
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", PROTOCOL.parse().unwrap());
        let (ws, resp) = tungstenite::client(req, tcp).map_err(|e| format!("{url}: {e}"))?;
        let proto = resp.headers().get("Sec-WebSocket-Protocol");
        if proto.is_none_or(|p| p != PROTOCOL) {
            return Err(format!("{url}: protocol {proto:?}, not {PROTOCOL}"));
        }
        Ok(Session {
            ws,
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: None,
            closed: false,
        })
    }

    /// Writes `data` to the process's stdin.
    pub fn stdin(&mut self, data: &[u8]) {
        let mut msg = vec![0u8];
        msg.extend_from_slice(data);
        self.ws
            .send(Message::Binary(msg.into()))
            .expect("write to the stream");
    }

    /// Tells the terminal's new size (channel 4, as kubectl does).
    pub fn resize(&mut self, width: u16, height: u16) {
        let mut msg = vec![4u8];
        msg.extend_from_slice(format!(r#"{{"Width":{width},"Height":{height}}}"#).as_bytes());
        self.ws
            .send(Message::Binary(msg.into()))
            .expect("write to the stream");
    }

    /// Reads messages until `done(self)` holds, the server closes, or
    /// `timeout` passes; true if `done` held.
    pub fn read_until(&mut self, timeout: Duration, done: impl Fn(&Session) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            if self.closed || Instant::now() > deadline {
                return false;
            }
            match self.ws.read() {
                Ok(Message::Binary(b)) if !b.is_empty() => {
                    let data = &b[1..];
                    match b[0] {
                        1 => self.stdout.extend_from_slice(data),
                        2 => self.stderr.extend_from_slice(data),
                        3 if !data.is_empty() => {
                            self.status = serde_json::from_slice(data).ok();
                        }
                        _ => {}
                    }
                }
                Ok(Message::Close(_)) => self.closed = true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => self.closed = true,
            }
        }
        true
    }

    /// The exit code the status reports: 0 for Success, the ExitCode
    /// cause's for NonZeroExitCode.
    pub fn exit_code(&self) -> Option<i32> {
        let s = self.status.as_ref()?;
        if s["status"] == "Success" {
            return Some(0);
        }
        s["details"]["causes"]
            .as_array()?
            .iter()
            .find(|c| c["reason"] == "ExitCode")?["message"]
            .as_str()?
            .parse()
            .ok()
    }

    pub fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
