//! What the machine's shared containers (the local registry, its caches and the router) have in
//! common: the label that marks a container or volume as kilter's, the refusal at a same-named
//! one that is not, and the environment settings they read the same way.

use crate::error::{Code, Exit, invalid};
use crate::tools::docker::Container;

/// Label on the shared containers and volumes: `registry`, `cache` or `router`.
pub const SHARED_LABEL: &str = "io.kilter.shared";
/// kind's docker network (it exists once the first kind cluster was created).
pub const KIND_NETWORK: &str = "kind";
/// The name prefix of every shared container and volume (`KILTER_REGISTRY_PREFIX`).
pub const DEFAULT_PREFIX: &str = "kilter";

/// Whether a shared container is kilter's: it carries [`SHARED_LABEL`] with the role its name
/// stands for. A same-named container without it is someone else's and is never started,
/// connected, reloaded, stopped or removed.
pub fn is_kilters(c: &Container, role: &str) -> bool {
    c.label(SHARED_LABEL) == Some(role)
}

/// What stops kilter at same-named containers or volumes (`kind`) it did not create (exit 1).
/// `label` is the label they lack as the message names it; `without` how to run without them.
pub fn in_the_way(kind: &str, names: &[String], label: &str, without: &str) -> Exit {
    let list = names.join(", ");
    let (them, it) = if names.len() == 1 { ("it", "it is") } else { ("them", "they are") };
    let first = names.first().map(String::as_str).unwrap_or("NAME");
    let hint = if kind == "container" {
        format!(
            "kilter leaves {them} alone: rename {them} out of the way (`docker rename {first} {first}-old`) or remove {them} if {it} not needed; or give kilter's shared containers other names with KILTER_REGISTRY_PREFIX ({without})"
        )
    } else {
        format!(
            "kilter leaves {them} alone: docker volumes cannot be renamed, so copy what you need and `docker volume rm {first}`; or give kilter's volumes other names with KILTER_REGISTRY_PREFIX ({without})"
        )
    };
    Exit::new(
        Code::Failed,
        format!(
            "docker {kind}{} {list} {} in the way: kilter did not create {them} (no `{label}` label)",
            if names.len() == 1 { "" } else { "s" },
            if names.len() == 1 { "is" } else { "are" }
        ),
    )
    .hint(hint)
}

/// A container or volume name part: lowercase letters, digits, '-' and '.', at most 40.
pub fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// An on/off switch such as `KILTER_REGISTRY` (unset or empty: on); `hint` for a bad value.
pub fn switch(get: &impl Fn(&str) -> Option<String>, var: &str, hint: &str) -> Result<bool, Exit> {
    match get(var).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(true),
        Some(v) => match v.as_str() {
            "" | "on" | "1" | "true" | "yes" => Ok(true),
            "off" | "0" | "false" | "no" => Ok(false),
            _ => Err(invalid(format!("{var}={v}: expected on or off")).hint(hint)),
        },
    }
}

/// A trimmed, non-empty value of `var`, else `default`.
pub fn text(get: &impl Fn(&str) -> Option<String>, var: &str, default: &str) -> String {
    get(var)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `KILTER_REGISTRY_PREFIX`: the prefix of every shared container's and volume's name.
pub fn prefix(get: &impl Fn(&str) -> Option<String>) -> Result<String, Exit> {
    let prefix = text(get, "KILTER_REGISTRY_PREFIX", DEFAULT_PREFIX);
    if !name_ok(&prefix) {
        return Err(invalid(format!(
            "KILTER_REGISTRY_PREFIX={prefix}: expected lowercase letters, digits, '-' and '.' (at most 40)"
        )));
    }
    Ok(prefix)
}

/// A port setting such as `KILTER_REGISTRY_PORT` (unset or empty: `default`).
pub fn port(get: &impl Fn(&str) -> Option<String>, var: &str, default: u16) -> Result<u16, Exit> {
    match get(var).map(|s| s.trim().to_owned()) {
        None => Ok(default),
        Some(s) if s.is_empty() => Ok(default),
        Some(s) => match s.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(invalid(format!("{var}={s}: expected a port number (1-65535)"))),
        },
    }
}

/// For the settings' unit tests: a variable lookup from a table.
#[cfg(test)]
pub fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::BTreeMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name part (`KILTER_REGISTRY_PREFIX`, an upstream's host) is lowercase letters, digits,
    /// `-` and `.`, starts with a letter or digit, and is at most 40 characters.
    #[test]
    fn name_parts_follow_the_rules() {
        let forty = "a".repeat(40);
        for ok in ["kilter", "k1", "0.cache", "my-prefix.x", forty.as_str()] {
            assert!(name_ok(ok), "{ok:?}");
        }
        let forty_one = "a".repeat(41);
        for bad in ["", "Kilter", "-x", ".x", "a_b", "a b", "a/b", "é", forty_one.as_str()] {
            assert!(!name_ok(bad), "{bad:?}");
        }
        let get =
            |v: &'static str| move |k: &str| (k == "KILTER_REGISTRY_PREFIX").then(|| v.to_owned());
        assert_eq!(prefix(&get("  team-a ")).expect("valid"), "team-a");
        let e = prefix(&get("Team_A")).expect_err("invalid");
        assert!(
            e.message.contains("KILTER_REGISTRY_PREFIX=Team_A: expected lowercase"),
            "{}",
            e.message
        );
    }

    #[test]
    fn one_refusal_wording_for_every_shared_container_and_volume() {
        let one = in_the_way(
            "container",
            &["kilter-router".into()],
            "io.kilter.shared=router",
            "`KILTER_ROUTER=off` runs without the router",
        );
        assert_eq!(
            one.message,
            "docker container kilter-router is in the way: kilter did not create it (no `io.kilter.shared=router` label)"
        );
        assert_eq!(
            one.hint.as_deref(),
            Some(
                "kilter leaves it alone: rename it out of the way (`docker rename kilter-router kilter-router-old`) or remove it if it is not needed; or give kilter's shared containers other names with KILTER_REGISTRY_PREFIX (`KILTER_ROUTER=off` runs without the router)"
            )
        );
        let two = in_the_way(
            "volume",
            &["kilter-registry".into(), "kilter-cache-quay.io".into()],
            SHARED_LABEL,
            "x",
        );
        assert!(two.message.starts_with("docker volumes kilter-registry, kilter-cache-quay.io are in the way: kilter did not create them"));
    }

    #[test]
    fn settings_read_the_same_way_for_every_shared_container() {
        let get =
            lookup(&[("A", " off "), ("P", "70000"), ("Q", ""), ("KILTER_REGISTRY_PREFIX", "My")]);
        assert_eq!(switch(&get, "A", "h").ok(), Some(false));
        assert_eq!(switch(&get, "B", "h").ok(), Some(true));
        // Every spelling of on and off, in any case and with blanks; an empty value is on.
        for (v, want) in [
            ("", true),
            (" ", true),
            ("on", true),
            ("1", true),
            ("True", true),
            ("YES", true),
            ("Off", false),
            ("0", false),
            ("false", false),
            (" no\t", false),
        ] {
            let get = lookup(&[("S", v)]);
            assert_eq!(switch(&get, "S", "h").ok(), Some(want), "S={v:?}");
        }
        let e = switch(&lookup(&[("S", " Maybe ")]), "S", "try off").expect_err("not a switch");
        assert_eq!(e.message, "S=maybe: expected on or off");
        assert_eq!(e.hint.as_deref(), Some("try off"));
        assert!(port(&get, "P", 1).is_err());
        assert_eq!(port(&get, "Q", 5001).ok(), Some(5001));
        assert!(prefix(&get).is_err());
        assert_eq!(prefix(&lookup(&[])).ok().as_deref(), Some("kilter"));
    }
}
