//! The hook lists of config.md's "POSIX-platform Hooks": their names and
//! the order the lifecycle runs them in.

use oci_spec::runtime::Hook;

/// Which hook list is running; its name is used in messages
/// ("createRuntime hook /usr/bin/x: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    /// In the order the lifecycle runs them.
    pub const ALL: [Kind; 6] = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ];

    /// This kind's list in config.json's `hooks` (empty when absent).
    pub fn list(self, hooks: Option<&oci_spec::runtime::Hooks>) -> &[Hook] {
        let Some(h) = hooks else {
            return &[];
        };
        let list = match self {
            Kind::Prestart => h.prestart(),
            Kind::CreateRuntime => h.create_runtime(),
            Kind::CreateContainer => h.create_container(),
            Kind::StartContainer => h.start_container(),
            Kind::Poststart => h.poststart(),
            Kind::Poststop => h.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }

    /// The list's key in config.json's `hooks`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }
}
