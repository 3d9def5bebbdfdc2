//! The few messages of CRIU's RPC schema (criu's images/rpc.proto) that
//! berth sends and reads, in protobuf's wire format, by hand.
//!
//! A protobuf library would bring code generation and a runtime several
//! times the size of this file for about thirty fields; the wire format of
//! the fields used here is four rules: a key is `field << 3 | wire type`
//! as a varint; integers and bools are varints (a negative int32 as its
//! 64-bit two's complement, ten bytes); strings and nested messages are a
//! varint length and the bytes. Unknown fields in a response are skipped,
//! so a newer criu's additions do not matter.

/// criu_req_type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqType {
    Dump = 1,
    Restore = 2,
    PreDump = 4,
    Notify = 6,
    FeatureCheck = 9,
    Version = 10,
}

impl ReqType {
    pub fn name(n: u64) -> &'static str {
        match n {
            1 => "DUMP",
            2 => "RESTORE",
            3 => "CHECK",
            4 => "PRE_DUMP",
            6 => "NOTIFY",
            9 => "FEATURE_CHECK",
            10 => "VERSION",
            _ => "UNKNOWN",
        }
    }
}

/// criu_cg_mode, as runc's --manage-cgroups-mode names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgMode {
    Soft = 3,
    Full = 4,
    Strict = 5,
}

/// criu_opts: the fields berth sets. None and false are left out of the
/// message, which is what criu takes as its own default.
#[derive(Debug, Default, Clone)]
pub struct Opts {
    pub images_dir_fd: i32,
    pub pid: Option<i32>,
    pub leave_running: bool,
    pub ext_unix_sk: bool,
    pub tcp_established: bool,
    pub evasive_devices: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub log_level: Option<i32>,
    pub log_file: Option<String>,
    pub notify_scripts: bool,
    pub root: Option<String>,
    pub parent_img: Option<String>,
    pub track_mem: bool,
    pub auto_dedup: bool,
    pub work_dir_fd: Option<i32>,
    /// (key, val): a mount criu takes as external.
    pub ext_mnt: Vec<(String, String)>,
    pub manage_cgroups: bool,
    /// (controller or None for every other, path).
    pub cg_root: Vec<(Option<String>, String)>,
    pub rst_sibling: bool,
    /// (key, fd in criu): a file criu gets from us instead of restoring.
    pub inherit_fd: Vec<(String, i32)>,
    pub manage_cgroups_mode: Option<CgMode>,
    pub external: Vec<String>,
    pub empty_ns: Option<u32>,
    /// (namespace type, file): a namespace restored tasks join.
    pub join_ns: Vec<(String, String)>,
    pub freeze_cgroup: Option<String>,
    pub orphan_pts_master: bool,
    /// A criu configuration file whose settings override these.
    pub config_file: Option<String>,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

/// A request: its type, options, and the answer to a notification.
#[derive(Debug, Default, Clone)]
pub struct Req {
    pub typ: Option<ReqType>,
    pub opts: Option<Opts>,
    pub notify_success: bool,
    /// criu_features.mem_track, for FEATURE_CHECK.
    pub ask_mem_track: bool,
}

const VARINT: u64 = 0;
const LEN: u64 = 2;

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }

    fn uint(&mut self, field: u64, v: u64) {
        self.key(field, VARINT);
        self.varint(v);
    }

    /// int32 goes on the wire sign-extended to 64 bits.
    fn int32(&mut self, field: u64, v: i32) {
        self.uint(field, v as i64 as u64);
    }

    fn flag(&mut self, field: u64, v: bool) {
        if v {
            self.uint(field, 1);
        }
    }

    fn bytes(&mut self, field: u64, b: &[u8]) {
        self.key(field, LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u64, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn opt_string(&mut self, field: u64, s: &Option<String>) {
        if let Some(s) = s {
            self.string(field, s);
        }
    }

    fn message(&mut self, field: u64, m: Writer) {
        self.bytes(field, &m.0);
    }
}

impl Opts {
    fn encode(&self) -> Writer {
        let mut w = Writer::default();
        // images_dir_fd is required (-1 means "use images_dir").
        w.int32(1, self.images_dir_fd);
        if let Some(pid) = self.pid {
            w.int32(2, pid);
        }
        w.flag(3, self.leave_running);
        w.flag(4, self.ext_unix_sk);
        w.flag(5, self.tcp_established);
        w.flag(6, self.evasive_devices);
        w.flag(7, self.shell_job);
        w.flag(8, self.file_locks);
        if let Some(l) = self.log_level {
            w.int32(9, l);
        }
        w.opt_string(10, &self.log_file);
        w.flag(12, self.notify_scripts);
        w.opt_string(13, &self.root);
        w.opt_string(14, &self.parent_img);
        w.flag(15, self.track_mem);
        w.flag(16, self.auto_dedup);
        if let Some(fd) = self.work_dir_fd {
            w.int32(17, fd);
        }
        for (k, v) in &self.ext_mnt {
            let mut m = Writer::default();
            m.string(1, k);
            m.string(2, v);
            w.message(23, m);
        }
        w.flag(24, self.manage_cgroups);
        for (ctrl, path) in &self.cg_root {
            let mut m = Writer::default();
            m.opt_string(1, ctrl);
            m.string(2, path);
            w.message(25, m);
        }
        w.flag(26, self.rst_sibling);
        for (k, fd) in &self.inherit_fd {
            let mut m = Writer::default();
            m.string(1, k);
            m.int32(2, *fd);
            w.message(27, m);
        }
        if let Some(mode) = self.manage_cgroups_mode {
            w.uint(34, mode as u64);
        }
        for e in &self.external {
            w.string(37, e);
        }
        if let Some(ns) = self.empty_ns {
            w.uint(38, ns.into());
        }
        for (ns, file) in &self.join_ns {
            let mut m = Writer::default();
            m.string(1, ns);
            m.string(2, file);
            w.message(39, m);
        }
        w.opt_string(44, &self.freeze_cgroup);
        w.flag(50, self.orphan_pts_master);
        w.opt_string(51, &self.config_file);
        w.opt_string(53, &self.lsm_profile);
        w.opt_string(63, &self.lsm_mount_context);
        w
    }
}

impl Req {
    pub fn new(typ: ReqType, opts: Option<Opts>) -> Req {
        Req {
            typ: Some(typ),
            opts,
            notify_success: false,
            ask_mem_track: false,
        }
    }

    /// The answer to a notification: go on.
    pub fn notify_done() -> Req {
        Req {
            typ: Some(ReqType::Notify),
            opts: None,
            notify_success: true,
            ask_mem_track: false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        if let Some(t) = self.typ {
            w.uint(1, t as u64);
        }
        if let Some(o) = &self.opts {
            w.message(2, o.encode());
        }
        w.flag(3, self.notify_success);
        if self.ask_mem_track {
            let mut f = Writer::default();
            f.flag(1, true);
            w.message(5, f);
        }
        w.0
    }
}

/// criu_resp, the parts berth reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resp {
    pub typ: u64,
    pub success: bool,
    /// criu_restore_resp.pid: the restored root task.
    pub restore_pid: Option<i32>,
    /// criu_notify: the script name and its pid.
    pub notify: Option<(String, i32)>,
    pub cr_errno: Option<i32>,
    pub cr_errmsg: Option<String>,
    /// criu_version: major, minor, sublevel.
    pub version: Option<(i32, i32, i32)>,
    /// criu_features.mem_track of a FEATURE_CHECK answer.
    pub mem_track: Option<bool>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

enum Value<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

/// The fields of one message, in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self
                .0
                .split_first()
                .ok_or(DecodeError("truncated varint"))?;
            self.0 = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than ten bytes"))
    }

    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, DecodeError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Int(self.varint()?),
            1 => Value::Bytes(self.take(8)?),
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| DecodeError("length too large"))?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Bytes(self.take(4)?),
            _ => return Err(DecodeError("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated field"));
        }
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(b)
    }
}

fn int(v: &Value) -> Result<u64, DecodeError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Bytes(_) => Err(DecodeError("expected an integer")),
    }
}

fn bytes<'a>(v: &Value<'a>) -> Result<&'a [u8], DecodeError> {
    match v {
        Value::Bytes(b) => Ok(b),
        Value::Int(_) => Err(DecodeError("expected bytes")),
    }
}

fn string(v: &Value) -> Result<String, DecodeError> {
    Ok(String::from_utf8_lossy(bytes(v)?).into_owned())
}

/// int32 fields arrive as 64-bit varints; the low 32 bits are the value.
fn int32(v: &Value) -> Result<i32, DecodeError> {
    Ok(int(v)? as i32)
}

impl Resp {
    pub fn decode(buf: &[u8]) -> Result<Resp, DecodeError> {
        let mut r = Resp::default();
        let mut fields = Reader(buf);
        let (mut typ, mut success) = (false, false);
        while let Some((n, v)) = fields.field()? {
            match n {
                1 => {
                    r.typ = int(&v)?;
                    typ = true;
                }
                2 => {
                    r.success = int(&v)? != 0;
                    success = true;
                }
                4 => {
                    let mut m = Reader(bytes(&v)?);
                    while let Some((n, v)) = m.field()? {
                        if n == 1 {
                            r.restore_pid = Some(int32(&v)?);
                        }
                    }
                }
                5 => {
                    let (mut script, mut pid) = (String::new(), 0);
                    let mut m = Reader(bytes(&v)?);
                    while let Some((n, v)) = m.field()? {
                        match n {
                            1 => script = string(&v)?,
                            2 => pid = int32(&v)?,
                            _ => {}
                        }
                    }
                    r.notify = Some((script, pid));
                }
                7 => r.cr_errno = Some(int32(&v)?),
                8 => {
                    let mut m = Reader(bytes(&v)?);
                    while let Some((n, v)) = m.field()? {
                        if n == 1 {
                            r.mem_track = Some(int(&v)? != 0);
                        }
                    }
                }
                9 => r.cr_errmsg = Some(string(&v)?),
                10 => {
                    let (mut major, mut minor, mut sub) = (0, 0, 0);
                    let mut m = Reader(bytes(&v)?);
                    while let Some((n, v)) = m.field()? {
                        match n {
                            1 => major = int32(&v)?,
                            2 => minor = int32(&v)?,
                            4 => sub = int32(&v)?,
                            _ => {}
                        }
                    }
                    r.version = Some((major, minor, sub));
                }
                _ => {}
            }
        }
        if !(typ && success) {
            return Err(DecodeError(
                "criu_resp without its required type and success",
            ));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_negative_int32() {
        let mut w = Writer::default();
        w.uint(1, 300);
        assert_eq!(w.0, [0x08, 0xac, 0x02]);
        let mut w = Writer::default();
        w.int32(1, -1);
        assert_eq!(
            w.0,
            [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
        let mut r = Reader(&w.0[1..]);
        assert_eq!(r.varint().unwrap() as i32, -1);
    }

    #[test]
    fn a_version_request_is_its_type_alone() {
        assert_eq!(Req::new(ReqType::Version, None).encode(), [0x08, 0x0a]);
        assert_eq!(Req::notify_done().encode(), [0x08, 0x06, 0x18, 0x01]);
        let mut features = Req::new(ReqType::FeatureCheck, None);
        features.ask_mem_track = true;
        assert_eq!(features.encode(), [0x08, 0x09, 0x2a, 0x02, 0x08, 0x01]);
        let answer = [0x08, 0x09, 0x10, 0x01, 0x42, 0x02, 0x08, 0x00];
        assert_eq!(Resp::decode(&answer).unwrap().mem_track, Some(false));
    }

    #[test]
    fn options_encode_in_field_order_with_nested_messages() {
        let opts = Opts {
            images_dir_fd: 5,
            pid: Some(42),
            log_file: Some("dump.log".into()),
            ext_mnt: vec![("/a".into(), "/b".into())],
            cg_root: vec![(None, "/x".into())],
            inherit_fd: vec![("pipe:[7]".into(), 1)],
            manage_cgroups_mode: Some(CgMode::Soft),
            orphan_pts_master: true,
            config_file: Some("c".into()),
            ..Default::default()
        };
        let req = Req::new(ReqType::Dump, Some(opts)).encode();
        let mut want = vec![0x08, 0x01, 0x12];
        let mut body = vec![0x08, 5, 0x10, 42];
        body.extend([0x52, 8]);
        body.extend(b"dump.log");
        // ext_mnt (23, length-delimited): key 23<<3|2 = 186 = 0xba 0x01.
        body.extend([0xba, 0x01, 8, 0x0a, 2, b'/', b'a', 0x12, 2, b'/', b'b']);
        // cg_root (25) without ctrl.
        body.extend([0xca, 0x01, 4, 0x12, 2, b'/', b'x']);
        // inherit_fd (27).
        body.extend([0xda, 0x01, 12, 0x0a, 8]);
        body.extend(b"pipe:[7]");
        body.extend([0x10, 1]);
        // manage_cgroups_mode (34) = SOFT, orphan_pts_master (50).
        body.extend([0x90, 0x02, 3, 0x90, 0x03, 1]);
        // config_file (51).
        body.extend([0x9a, 0x03, 1, b'c']);
        want.push(body.len() as u8);
        want.extend(body);
        assert_eq!(req, want);
    }

    #[test]
    fn responses_decode_and_unknown_fields_are_skipped() {
        // type RESTORE, success, restore{pid 1234}, an unknown fixed32
        // field 15 and string field 30.
        let mut buf = vec![0x08, 0x02, 0x10, 0x01, 0x22, 0x03, 0x08, 0xd2, 0x09];
        buf.extend([0x7d, 1, 2, 3, 4]);
        buf.extend([0xf2, 0x01, 2, b'h', b'i']);
        let r = Resp::decode(&buf).unwrap();
        assert_eq!(r.typ, ReqType::Restore as u64);
        assert!(r.success);
        assert_eq!(r.restore_pid, Some(1234));

        // A notification, and a failure with errno and message.
        let mut n = vec![0x08, 0x06, 0x10, 0x01, 0x2a, 16, 0x0a, 12];
        n.extend(b"post-restore");
        n.extend([0x10, 0x07]);
        let r = Resp::decode(&n).unwrap();
        assert_eq!(r.notify, Some(("post-restore".into(), 7)));
        let mut f = vec![0x08, 0x01, 0x10, 0x00, 0x38, 0x02, 0x4a, 3];
        f.extend(b"bad");
        let r = Resp::decode(&f).unwrap();
        assert!(!r.success);
        assert_eq!((r.cr_errno, r.cr_errmsg.as_deref()), (Some(2), Some("bad")));

        // Version 4.1.1.
        let v = [0x08, 0x0a, 0x10, 0x01, 0x52, 6, 0x08, 4, 0x10, 1, 0x20, 1];
        assert_eq!(Resp::decode(&v).unwrap().version, Some((4, 1, 1)));
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(Resp::decode(&[0x08]).is_err());
        assert!(Resp::decode(&[0x08, 0x01]).is_err(), "no success field");
        assert!(Resp::decode(&[0x08, 0x01, 0x10, 0x01, 0x22, 0x05, 0x08]).is_err());
        assert!(Resp::decode(&[0x0b]).is_err(), "group wire type");
    }
}
