//! A tiny, strict pflag-style parser: `--flag value`, `--flag=value`, `-f value`, `-fvalue`,
//! `-f=value`, grouped boolean shorts (`-fv`), flags interspersed with positionals, and `--`.
//! Any flag not in the spec is an error, which the tools turn into "unexpected call" (exit 97).

/// One accepted flag. `names[0]` is the canonical name used for lookups.
pub struct Flag {
    pub names: &'static [&'static str],
    pub takes_value: bool,
}

/// Shorthand constructors.
pub const fn val(names: &'static [&'static str]) -> Flag {
    Flag { names, takes_value: true }
}
pub const fn boolean(names: &'static [&'static str]) -> Flag {
    Flag { names, takes_value: false }
}

#[derive(Debug, Default)]
pub struct Parsed {
    /// (canonical name, value) in command-line order; booleans get "true"/"false".
    pub flags: Vec<(&'static str, String)>,
    /// Positional arguments before `--`.
    pub pos: Vec<String>,
    /// Arguments after `--` (None when there was no `--`).
    pub rest: Option<Vec<String>>,
}

impl Parsed {
    /// Last value given for a flag.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
    /// All values given for a (repeatable) flag.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.flags.iter().filter(|(n, _)| *n == name).map(|(_, v)| v.as_str()).collect()
    }
    /// Boolean flag set (and not `=false`).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v != "false")
    }
}

/// Why parsing failed: the offending token and a pflag-like message.
#[derive(Debug)]
pub struct ParseError {
    pub message: String,
}

fn find<'a>(spec: &'a [Flag], name: &str) -> Option<&'a Flag> {
    spec.iter().find(|f| f.names.contains(&name))
}

pub fn parse(args: &[String], spec: &[Flag]) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.rest = Some(args[i..].to_vec());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let dashed = format!("--{name}");
            let Some(flag) = find(spec, &dashed) else {
                return Err(ParseError { message: format!("unknown flag: {dashed}") });
            };
            let value = if flag.takes_value {
                match inline {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => {
                        return Err(ParseError {
                            message: format!("flag needs an argument: {dashed}"),
                        });
                    }
                }
            } else {
                match inline.as_deref() {
                    None | Some("true") => "true".to_string(),
                    Some("false") => "false".to_string(),
                    Some(v) => {
                        return Err(ParseError {
                            message: format!("invalid argument {v:?} for {dashed}"),
                        });
                    }
                }
            };
            out.flags.push((flag.names[0], value));
        } else if a.len() > 1 && a.starts_with('-') {
            // One or more short flags: -a, -abc, -n value, -nvalue, -n=value.
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let short = format!("-{}", chars[j]);
                let Some(flag) = find(spec, &short) else {
                    return Err(ParseError {
                        message: format!("unknown shorthand flag: '{}' in {a}", chars[j]),
                    });
                };
                j += 1;
                if flag.takes_value {
                    let attached: String = chars[j..].iter().collect();
                    let value = if !attached.is_empty() {
                        attached.strip_prefix('=').map(str::to_string).unwrap_or(attached)
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(ParseError {
                            message: format!(
                                "flag needs an argument: '{}' in {short}",
                                chars[j - 1]
                            ),
                        });
                    };
                    out.flags.push((flag.names[0], value));
                    break;
                }
                out.flags.push((flag.names[0], "true".to_string()));
            }
        } else {
            out.pos.push(a.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn forms() {
        let spec = [val(&["--name", "-n"]), boolean(&["--force", "-f"]), boolean(&["-v"])];
        let p = parse(&s(&["x", "--name=a", "-fv", "-nb", "y", "--", "-z"]), &spec).unwrap();
        assert_eq!(p.get("--name"), Some("b"));
        assert!(p.has("--force") && p.has("-v"));
        assert_eq!(p.pos, s(&["x", "y"]));
        assert_eq!(p.rest, Some(s(&["-z"])));
        assert!(parse(&s(&["--nope"]), &spec).is_err());
    }
}
