//! `{{ .Name }}`-style placeholders in a service's `env:`, `provides:` and probe commands.
//!
//! | placeholder | value |
//! |---|---|
//! | `{{ .Namespace }}` | the project namespace, `<project>-dev` |
//! | `{{ .Port }}` | the service's (first) port, as the container listens on it |
//! | `{{ .NodePort }}` | the NodePort that port is published on (127.0.0.1 on the host) |
//! | `{{ .Name }}` | the service's name |
//! | `{{ .Project }}` | the project name |
//! | `{{ .Env.VAR }}` | the service's own `env:` value `VAR` (in `provides:` only) |
//!
//! Nothing else is expanded: an unknown placeholder or an unclosed `{{` is an error, found when
//! kilter.yaml is read, so a typo never reaches the cluster.

use crate::config::suggest;

const KNOWN: &[&str] = &["Namespace", "Port", "NodePort", "Name", "Project"];

/// The values of the placeholders for one service.
#[derive(Debug, Clone)]
pub(crate) struct Vars<'a> {
    pub namespace: &'a str,
    pub project: &'a str,
    pub name: &'a str,
    pub port: u16,
    pub node_port: u16,
    /// `Some` where `{{ .Env.VAR }}` is allowed.
    pub env: Option<&'a [(String, String)]>,
}

/// One piece of a template.
enum Piece<'t> {
    Text(&'t str),
    Var(&'t str),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!("`{{{{` without a closing `}}}}` in {text:?}"));
        };
        out.push(Piece::Var(after[..close].trim()));
        rest = &after[close + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Check that every placeholder of `text` is known (`env`: whether `{{ .Env.VAR }}` may be
/// used here). The error says which one is wrong and what exists.
pub(crate) fn check(text: &str, env: bool) -> Result<(), String> {
    for p in pieces(text)? {
        if let Piece::Var(v) = p {
            resolve_name(v, env)?;
        }
    }
    Ok(())
}

enum Name<'t> {
    Known(&'t str),
    Env(&'t str),
}

fn resolve_name(v: &str, env: bool) -> Result<Name<'_>, String> {
    let Some(name) = v.strip_prefix('.') else {
        return Err(unknown(v, env));
    };
    if KNOWN.contains(&name) {
        return Ok(Name::Known(name));
    }
    if let Some(var) = name.strip_prefix("Env.") {
        if !env {
            return Err(format!(
                "`{{{{ {v} }}}}` can only be used in `provides:` (an `env:` value cannot refer to another)"
            ));
        }
        if !var.is_empty() {
            return Ok(Name::Env(var));
        }
    }
    Err(unknown(v, env))
}

fn unknown(v: &str, env: bool) -> String {
    let bare = v.trim_start_matches('.');
    let mut known: Vec<String> = KNOWN.iter().map(|k| format!("{{{{ .{k} }}}}")).collect();
    if env {
        known.push("{{ .Env.VAR }}".to_owned());
    }
    let close = suggest(bare, KNOWN)
        .map(|c| format!(" (did you mean `{{{{ .{c} }}}}`?)"))
        .unwrap_or_default();
    format!("unknown placeholder `{{{{ {v} }}}}`{close}; the placeholders are {}", known.join(", "))
}

/// Expand every placeholder of `text` (which [`check`] accepted).
pub(crate) fn expand(text: &str, vars: &Vars<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for p in pieces(text)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(v) => match resolve_name(v, vars.env.is_some())? {
                Name::Known("Namespace") => out.push_str(vars.namespace),
                Name::Known("Port") => out.push_str(&vars.port.to_string()),
                Name::Known("NodePort") => out.push_str(&vars.node_port.to_string()),
                Name::Known("Name") => out.push_str(vars.name),
                Name::Known(_) => out.push_str(vars.project),
                Name::Env(var) => {
                    let value = vars
                        .env
                        .and_then(|e| e.iter().find(|(k, _)| k == var))
                        .map(|(_, v)| v.as_str());
                    match value {
                        Some(value) => out.push_str(value),
                        None => {
                            return Err(format!(
                                "`{{{{ .Env.{var} }}}}`: service `{}` has no `env:` variable `{var}`",
                                vars.name
                            ));
                        }
                    }
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(env: Option<&[(String, String)]>) -> Vars<'_> {
        Vars {
            namespace: "shop-dev",
            project: "shop",
            name: "db",
            port: 5432,
            node_port: 30359,
            env,
        }
    }

    #[test]
    fn placeholders_expand() {
        let env = vec![("USER".to_owned(), "u".to_owned())];
        let v = vars(Some(&env));
        assert_eq!(
            expand("x://{{ .Env.USER }}@{{.Name}}.{{ .Namespace }}.svc:{{ .Port }}/{{ .Project }} {{ .NodePort }}", &v)
                .expect("expands"),
            "x://u@db.shop-dev.svc:5432/shop 30359"
        );
        assert_eq!(expand("no placeholders", &v).expect("plain"), "no placeholders");
    }

    #[test]
    fn mistakes_are_named() {
        let err = check("{{ .Namspace }}", true).expect_err("typo");
        assert!(err.contains("did you mean `{{ .Namespace }}`"), "{err}");
        assert!(check("{{ .Port", false).expect_err("unclosed").contains("without a closing"));
        assert!(check("{{ Port }}", false).is_err());
        assert!(
            check("{{ .Env.X }}", false).expect_err("env").contains("only be used in `provides:`")
        );
        assert!(check("{{ .Env. }}", true).is_err());
        let err = expand("{{ .Env.NOPE }}", &vars(Some(&[]))).expect_err("missing");
        assert!(err.contains("has no `env:` variable `NOPE`"), "{err}");
    }
}
