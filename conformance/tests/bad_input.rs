//! Bad input: a clear error, a non-zero exit, and nothing left behind.

use conformance::{is_runc, stderr, Fixture};
use serde_json::json;

#[test]
fn invalid_ids_are_refused() {
    let f = Fixture::new("badid");
    f.write_config();
    for id in ["a/b", "..", ".", "a b", "../escape"] {
        f.create_fails(id);
    }
}

#[test]
fn a_duplicate_id_is_refused_and_the_first_container_is_untouched() {
    let mut f = Fixture::new("dup");
    f.args(&["sleep", "1000"]);
    assert!(f.create(&[]).status.success());
    let pid = f.state()["pid"].clone();
    let o = f.rt(&["create", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    assert!(!o.status.success());
    assert_eq!(f.status(), "created");
    assert_eq!(f.state()["pid"], pid);
}

#[test]
fn a_missing_bundle_config_or_rootfs_is_refused() {
    let f = Fixture::new("missing");
    let o = f.rt(&["create", "--bundle", "/nonexistent/bundle", &f.id]);
    assert!(!o.status.success());
    f.assert_clean(&f.id);
    // No config.json yet.
    f.create_fails(&f.id);
    f.write_config();
    std::fs::rename(f.bundle.join("rootfs"), f.dir.join("moved")).unwrap();
    f.create_fails(&f.id);
    std::fs::rename(f.dir.join("moved"), f.bundle.join("rootfs")).unwrap();
}

#[test]
fn malformed_json_is_refused_with_line_and_column() {
    let f = Fixture::new("json");
    std::fs::write(
        f.bundle.join("config.json"),
        "{\n  \"ociVersion\": \"1.0.2\",\n  oops\n}\n",
    )
    .unwrap();
    let err = f.create_fails(&f.id);
    if !is_runc() {
        assert!(err.contains("line 3") && err.contains("column 3"), "{err}");
    }
}

#[test]
fn empty_args_are_refused() {
    let mut f = Fixture::new("noargs");
    f.config["process"]["args"] = json!([]);
    f.write_config();
    f.create_fails(&f.id);
}

#[test]
fn a_missing_program_fails_create_not_start() {
    let mut f = Fixture::new("noprog");
    f.args(&["/bin/does-not-exist"]);
    f.write_config();
    f.create_fails(&f.id);
    f.args(&["does-not-exist-in-path"]);
    f.write_config();
    f.create_fails(&f.id);
}

#[test]
fn an_unsupported_oci_version_major_is_refused() {
    let mut f = Fixture::new("ociver");
    f.config["ociVersion"] = json!("2.0.0");
    f.write_config();
    let o = f.rt(&["create", "--bundle", f.bundle.to_str().unwrap(), &f.id]);
    if is_runc() {
        // runc 1.1 does not check the version (documented deviation).
        return;
    }
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ociVersion"), "{}", stderr(&o));
    f.assert_clean(&f.id);
}

#[test]
fn a_terminal_without_console_socket_is_refused() {
    let mut f = Fixture::new("noconsole");
    f.config["process"]["terminal"] = json!(true);
    f.write_config();
    f.create_fails(&f.id);
}
