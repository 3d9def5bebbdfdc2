//! Mount option lists: one option per line of the input (so an option may
//! hold commas, as one in config.json may), bytes that are not UTF-8
//! replaced as a JSON decoder would not let them through anyway.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let options: Vec<String> = text.split('\n').map(str::to_owned).collect();
    if let Ok(parsed) = berth::oci::mount_options::parse(&options) {
        // What the kernel is handed is what was asked for, and fits.
        assert!(!parsed.data.contains('\0'));
        assert!(parsed.data.len() < 4096);
        for o in &options {
            let _ = berth::oci::mount_options::propagation_flag(o);
        }
    }
});
