//! A D-Bus message as the bus or systemd could send it to berth's client:
//! the bytes of one frame, read as the client reads them. Whatever is
//! accepted must be writable again, and what is written must read back
//! to the same bytes.
#![no_main]

use berth::linux::dbus::message::{frame_len, Message, FIXED_HEADER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(head) = data.get(..FIXED_HEADER) {
        let _ = frame_len(head.try_into().unwrap());
    }
    if let Ok(Some(m)) = Message::decode(data) {
        let once = m.encode().expect("a message read is writable");
        let back = Message::decode(&once)
            .expect("a message written is readable")
            .expect("of a known type");
        assert_eq!(back.encode().unwrap(), once);
    }
});
