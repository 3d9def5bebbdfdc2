//! `update` of linux.resources.devices: from the rules in effect (recorded
//! in the state at create, see `Cgroups::devices`) to new ones, without a
//! moment where a device allowed before and after is denied.
//!
//! - Rules equal to those in effect (containerd's CRI plugin sends back
//!   the whole linux.resources the container was made with) change
//!   nothing.
//! - v2: the new program is attached before the old one is detached
//!   (device_filter::replace).
//! - v1: the kernel keeps a default (allow or deny) and exceptions, each
//!   a type, major and minor with the accesses that differ from the
//!   default; writing a rule of type `a` resets both. Rewriting the rules
//!   as create does would start with that reset (deny everything), so the
//!   old and new rules are each played on a model of the kernel's list,
//!   and only the difference is written: the exceptions gained, then the
//!   ones lost. A reset is written only where the default itself changes.

use std::collections::BTreeMap;

use super::device_filter::Rule;
use super::resources::{v1_writes, DevicePolicy, Write};
use crate::error::{Result, SysResult};

/// An exception's key: the type (never `a`), major and minor (None: `*`).
type Key = (i32, Option<u32>, Option<u32>);

/// A v1 devices cgroup as the kernel keeps it (security/device_cgroup.c).
#[derive(Debug, Clone, PartialEq, Eq)]
struct V1List {
    default_allow: bool,
    /// Accesses, by key, that differ from the default.
    exceptions: BTreeMap<Key, i32>,
    /// False where the exceptions are not known: devices.list of a cgroup
    /// whose default is allow shows only "a *:* rwm".
    known: bool,
}

impl V1List {
    /// A new cgroup's list, as the kernel would make it of a parent that
    /// allows everything; every rule list berth plans resets it first.
    fn new() -> V1List {
        V1List {
            default_allow: true,
            exceptions: BTreeMap::new(),
            known: true,
        }
    }

    /// One write to devices.allow (`rule.allow`) or devices.deny.
    fn apply(&mut self, rule: &Rule) {
        let Some(typ) = rule.typ else {
            *self = V1List {
                default_allow: rule.allow,
                ..V1List::new()
            };
            return;
        };
        let key = (typ, rule.major, rule.minor);
        if rule.allow != self.default_allow {
            *self.exceptions.entry(key).or_insert(0) |= rule.access;
        } else if let Some(access) = self.exceptions.get_mut(&key) {
            // The kernel takes away only from the exception with this very
            // key, not from wildcards that cover it.
            *access &= !rule.access;
            if *access == 0 {
                self.exceptions.remove(&key);
            }
        }
    }

    fn of(rules: &[Rule]) -> V1List {
        let mut l = V1List::new();
        for r in rules {
            l.apply(r);
        }
        l
    }

    /// devices.list: the exceptions of a deny-by-default cgroup, or
    /// "a *:* rwm" alone for an allow-by-default one.
    fn from_devices_list(text: &str) -> Option<V1List> {
        let mut l = V1List {
            default_allow: false,
            ..V1List::new()
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let rule = Rule::parse_v1(true, line)?;
            if rule.typ.is_none() {
                l.default_allow = true;
                l.known = false;
                l.exceptions.clear();
                continue;
            }
            l.apply(&rule);
        }
        Some(l)
    }
}

/// The writes that take a cgroup from `old` to `new`, in order: gained
/// accesses first, then lost ones, each exception written for just the
/// accesses that change, so that what both allow is never touched. Only
/// a change of default (or unknown exceptions) needs the reset, then
/// every exception of `new`.
fn transition(old: &V1List, new: &V1List) -> Vec<Rule> {
    let rule = |allow: bool, (typ, major, minor): Key, access: i32| Rule {
        allow,
        typ: Some(typ),
        major,
        minor,
        access,
    };
    // An exception goes to the file opposite the default.
    let exception = !new.default_allow;
    if old.default_allow != new.default_allow || !old.known {
        let mut out = vec![Rule {
            allow: new.default_allow,
            typ: None,
            major: None,
            minor: None,
            access: 0b111,
        }];
        out.extend(new.exceptions.iter().map(|(k, a)| rule(exception, *k, *a)));
        return out;
    }
    let mut out = Vec::new();
    for (k, a) in &new.exceptions {
        let gained = a & !old.exceptions.get(k).copied().unwrap_or(0);
        if gained != 0 {
            out.push(rule(exception, *k, gained));
        }
    }
    for (k, a) in &old.exceptions {
        let lost = a & !new.exceptions.get(k).copied().unwrap_or(0);
        if lost != 0 {
            out.push(rule(!exception, *k, lost));
        }
    }
    out
}

/// What `update` does with the device policy `new` for a container whose
/// state records `recorded` (see `Cgroups::devices`): None when nothing is
/// to change (the same rules, however spelled; a container without a
/// device policy, as rootless ones are made, gets none now either), else
/// the writes (v1) or program (v2) made and the rules to record.
pub fn update(new: &DevicePolicy, recorded: Option<&[String]>) -> Result<Option<Vec<String>>> {
    let rules = new.parsed()?;
    // A record that does not read as rules (edited by hand) is no record.
    let old: Option<Vec<Rule>> = recorded.and_then(|list| {
        list.iter()
            .map(|t| Rule::try_from(t.clone()).ok())
            .collect()
    });
    match (recorded, &old) {
        (Some([]), _) => return Ok(None),
        (_, Some(old)) if *old == rules => return Ok(None),
        _ => {}
    }
    if new.v2 {
        super::device_filter::replace(&new.dir, &rules)?;
    } else {
        let from = match &old {
            Some(old) => V1List::of(old),
            // A state from before the rules were recorded: the kernel's
            // list says what is in effect.
            None => {
                let f = new.dir.join("devices.list");
                let text = std::fs::read_to_string(&f).sys_path("read", &f)?;
                V1List::from_devices_list(&text).ok_or_else(|| {
                    crate::Error::invalid(format!("{}: unexpected content", f.display()))
                })?
            }
        };
        let steps = transition(&from, &V1List::of(&rules));
        let writes: Vec<Write> = v1_writes(&new.dir, steps.iter().map(|r| (r.allow, r.v1_text())));
        for (file, value) in &writes {
            std::fs::write(file, value).sys_path(&format!("write {value:?} to"), file)?;
        }
    }
    Ok(Some(new.record()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<Rule> {
        list.iter()
            .map(|r| Rule::try_from(r.to_string()).unwrap())
            .collect()
    }

    fn texts(rules: &[Rule]) -> Vec<String> {
        rules.iter().map(|r| String::from(r.clone())).collect()
    }

    /// What berth plans for a config: deny all, the config's, the defaults.
    fn planned(config: &[&str]) -> Vec<Rule> {
        let mut all = vec!["deny a *:* rwm"];
        all.extend_from_slice(config);
        all.extend(["allow c 1:3 rwm", "allow c 5:0 rwm", "allow c 136:* rwm"]);
        rules(&all)
    }

    /// The list a sequence of writes leaves, as the model of the kernel
    /// plays them: a transition must land where the new rules do.
    fn after(old: &V1List, writes: &[Rule]) -> V1List {
        let mut l = old.clone();
        for w in writes {
            l.apply(w);
        }
        l
    }

    /// A policy as resources::plan makes it, from "allow c 1:3 rwm" texts.
    fn policy(v2: bool, list: &[Rule]) -> DevicePolicy {
        DevicePolicy {
            dir: "/nonexistent".into(),
            v2,
            rules: list.iter().map(|r| (r.allow, r.v1_text())).collect(),
        }
    }

    #[test]
    fn the_same_rules_write_nothing() {
        let r = planned(&["allow c 1:11 rw"]);
        let mut same = texts(&r);
        same[1] = "allow c 1:11 wr".to_string();
        // Nothing to write (the directory does not exist: a write fails).
        for v2 in [false, true] {
            assert_eq!(update(&policy(v2, &r), Some(&same)).unwrap(), None);
            // Nor for a container without a device policy.
            assert_eq!(update(&policy(v2, &r), Some(&[])).unwrap(), None);
        }
        // Other rules, or none recorded: the writes are made (and fail here).
        let other = texts(&planned(&["allow c 1:11 r"]));
        let e = update(&policy(false, &r), Some(&other)).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/devices.allow"), "{e}");
        let e = update(&policy(false, &r), None).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/devices.list"), "{e}");
    }

    #[test]
    fn v1_allows_what_is_new_first_then_denies_what_went() {
        let old = V1List::of(&planned(&["allow c 1:11 r", "allow c 10:200 rwm"]));
        let new = V1List::of(&planned(&["allow c 1:11 rw", "allow b 8:0 r"]));
        let t = transition(&old, &new);
        assert_eq!(
            texts(&t),
            ["allow b 8:0 r", "allow c 1:11 w", "deny c 10:200 rwm"]
        );
        assert!(t.iter().all(|r| r.typ.is_some()), "no reset: {t:?}");
        assert_eq!(after(&old, &t), new);
        // The defaults, allowed before and after, are never written.
        assert!(!texts(&t)
            .iter()
            .any(|w| w.contains("1:3") || w.contains("136:")));
        // An access taken from a rule, not the whole rule.
        let new = V1List::of(&planned(&["allow c 1:11 r"]));
        let t = transition(&old, &new);
        assert_eq!(texts(&t), ["deny c 10:200 rwm"]);
        assert_eq!(transition(&new, &new), []);
    }

    /// A rule list that ends in allow-all (the config's {"allow": true})
    /// has a different default: only then is the reset written.
    #[test]
    fn v1_resets_only_when_the_default_changes() {
        let old = V1List::of(&planned(&["allow c 1:11 rw"]));
        let new = V1List::of(&rules(&[
            "deny a *:* rwm",
            "allow a *:* rwm",
            "deny c 1:1 rwm",
        ]));
        assert!(new.default_allow);
        let t = transition(&old, &new);
        assert_eq!(texts(&t), ["allow a *:* rwm", "deny c 1:1 rwm"]);
        assert_eq!(after(&old, &t), new);
        let back = transition(&new, &old);
        assert_eq!(back[0].typ, None);
        assert!(!back[0].allow);
        assert_eq!(after(&new, &back), old);
    }

    /// A deny that matches no exception exactly changes nothing in v1,
    /// whatever wildcard covers it: the model must agree.
    #[test]
    fn v1_deny_takes_only_from_the_exact_exception() {
        let mut l = V1List::of(&planned(&[]));
        l.apply(&rules(&["deny c 136:5 rwm"])[0]);
        assert_eq!(l, V1List::of(&planned(&[])));
        l.apply(&rules(&["deny c 136:* w"])[0]);
        assert_eq!(l.exceptions.get(&(2, Some(136), None)), Some(&0b011));
    }

    #[test]
    fn devices_list_is_read_as_the_kernel_writes_it() {
        let l =
            V1List::from_devices_list("c 1:3 rwm\nc 5:0 rwm\nc 136:* rwm\nc 1:11 rw\n").unwrap();
        assert_eq!(l, V1List::of(&planned(&["allow c 1:11 rw"])));
        let new = V1List::of(&planned(&[]));
        assert_eq!(texts(&transition(&l, &new)), ["deny c 1:11 rw"]);
        // Allow by default: the exceptions are not listed, so the reset.
        let open = V1List::from_devices_list("a *:* rwm\n").unwrap();
        let t = transition(&open, &new);
        assert_eq!(t[0].typ, None);
        assert_eq!(t.len(), 1 + new.exceptions.len());
        assert!(V1List::from_devices_list("x 1:3 rwm\n").is_none());
    }
}
