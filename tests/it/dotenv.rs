//! `kilter env --dotenv` read back by the readers people use (docs/commands.md "kilter env"):
//! `set -a; . ./.env` in sh (dash) and in bash, python-dotenv (`dotenv_values`, with its default
//! `${…}` interpolation), docker compose v1 (`docker-compose config`, when installed) and docker
//! compose v2's env-file rules (`compose_v2_env_file` below: an oracle written from compose's
//! documented env-file syntax and its parser's quote handling, because compose v2 cannot be
//! installed here). Each must read every value of a hostile corpus exactly, and no reader may
//! run anything (sentinel files). Values that no quoting keeps literal for all of them are refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;
use crate::support::{Env, skipped, truthy};

/// The hostile corpus: every value `--dotenv` must write so that each reader takes it literally.
/// `{S}` is replaced by a sentinel path that a reader which executes something would create.
const CORPUS: &[(&str, &str)] = &[
    ("Q_SINGLE", "it's"),
    ("Q_DOUBLE", "say \"hi\""),
    ("DOLLAR", "$HOME and $1 and $$ and $"),
    ("BRACE_OPEN", "${ not closed"),
    ("BRACE_COLON", "${a:b}"),
    ("CMD_SUBST", "$(touch {S}-1)"),
    ("BACKTICKS", "`touch {S}-2`"),
    ("BOTH", "a $(touch {S}-3) and `touch {S}-4`; touch {S}-5"),
    ("BACKSLASH", "back\\slash \\n \\t"),
    ("BACKSLASHES", "C:\\\\share\\\\dir and it's \"q\""),
    ("NEWLINES", "line 1\nline 2\n"),
    ("NEWLINE_QUOTE", "it's\nmulti \"line\""),
    ("HASH", "# not a comment"),
    ("HASH_MID", "a #b"),
    ("SPACES", "  leading and trailing  "),
    ("UNICODE", "héllo wörld ✓ 日本 🚀"),
    ("EMPTY", ""),
    ("EQUALS", "=a=b="),
    ("SHELLY", "a; b & c | d > e < f ! g * h ? [i] ~j {k}"),
    ("TAB", "tab\there"),
    ("URL", "postgres://u:p%40ss@127.0.0.1:5432/db?sslmode=disable"),
];

/// kilter.yaml with an inline service that provides every corpus value (as YAML double-quoted
/// scalars, which JSON strings are).
fn yaml_of(values: &[(String, String)]) -> String {
    let mut y = String::from(
        "name: shop\nservices:\n  - name: box\n    image: busybox:1.36\n    port: 8080\n    provides:\n",
    );
    for (k, v) in values {
        y.push_str(&format!("      {k}: {}\n", serde_json::to_string(v).unwrap()));
    }
    y
}

fn corpus(sentinel: &Path) -> Vec<(String, String)> {
    CORPUS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.replace("{S}", &sentinel.display().to_string())))
        .collect()
}

/// `set -a; . ./.env` in `shell`, then every variable NUL-separated (`env -0`).
fn shell_reads(shell: &str, dir: &Path) -> BTreeMap<String, String> {
    let out = Command::new(shell)
        .args(["-c", "set -a; . ./.env; exec env -0"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// python-dotenv's `dotenv_values` (interpolation on, as `load_dotenv` uses it); None when
/// python3 or the module is missing.
fn python_dotenv_reads(dir: &Path) -> Option<BTreeMap<String, String>> {
    let out = Command::new("python3")
        .args(["-c", "import json, dotenv; print(json.dumps(dict(dotenv.dotenv_values('.env'))))"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        assert!(stderr_of(&out).contains("No module named"), "python-dotenv: {}", stderr_of(&out));
        return None;
    }
    assert!(
        !stderr_of(&out).contains("could not parse"),
        "python-dotenv: {}\n{}",
        stderr_of(&out),
        std::fs::read_to_string(dir.join(".env")).unwrap_or_default()
    );
    Some(serde_json::from_slice(&out.stdout).expect("json"))
}

/// docker compose v1 (`docker-compose config` of a service with `env_file: .env`); None when it
/// is not installed. Its output escapes `$` as `$$` (compose file syntax).
fn compose_v1_reads(dir: &Path) -> Option<BTreeMap<String, String>> {
    let bin = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    std::fs::write(
        dir.join("compose.yml"),
        "version: \"3\"\nservices:\n  s:\n    image: busybox\n    env_file: .env\n",
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["-f", "compose.yml", "config"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "docker-compose config: {}", stderr_of(&out));
    let doc: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).expect("yaml");
    let env = doc["services"]["s"]["environment"].as_mapping().expect("environment").clone();
    Some(
        env.iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_yaml::Value::Null => String::new(),
                    v => v.as_str().expect("string").replace("$$", "$"),
                };
                (k.as_str().unwrap().to_owned(), v)
            })
            .collect(),
    )
}

/// docker compose v2's env-file reading, as documented ("Env file syntax" in compose's docs:
/// `VAR=VAL`, `VAR="VAL"`, `VAR='VAL'`; inline comments after a space or after the closing quote;
/// single-quoted values literal except `\'`; `\n`, `\r`, `\t`, `\\` and `\"` in double quotes;
/// quoted values may span lines; unquoted and double-quoted values are interpolated) with the quote
/// handling of its parser (compose-go `dotenv`: a quote preceded by `\` does not end the value).
/// Interpolation is not modelled: a `$` where compose would interpolate is an error here, because
/// kilter must never write one.
fn compose_v2_env_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let space = |c: char| c == ' ' || c == '\t';
    while i < b.len() {
        while i < b.len() && b[i].is_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        if b[i] == '#' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < b.len() && b[i] != '=' && b[i] != '\n' {
            i += 1;
        }
        if i >= b.len() || b[i] != '=' {
            return Err(format!("no `=` after {:?}", b[start..i].iter().collect::<String>()));
        }
        let key: String = b[start..i].iter().collect::<String>().trim().to_owned();
        if key.is_empty() || !key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            return Err(format!("bad key {key:?}"));
        }
        i += 1;
        while i < b.len() && space(b[i]) {
            i += 1;
        }
        let value = if i < b.len() && (b[i] == '\'' || b[i] == '"') {
            let quote = b[i];
            i += 1;
            let mut raw = String::new();
            let mut escaped = false;
            loop {
                let Some(&c) = b.get(i) else { return Err(format!("unterminated {key}")) };
                i += 1;
                if c == '\\' && !escaped {
                    escaped = true;
                    continue;
                }
                if c == quote && !escaped {
                    break;
                }
                if escaped && c != quote {
                    raw.push('\\');
                }
                escaped = false;
                raw.push(c);
            }
            // after the closing quote: spaces, then a comment or the end of the line
            while i < b.len() && space(b[i]) {
                i += 1;
            }
            if i < b.len() && b[i] != '\n' && b[i] != '#' {
                return Err(format!("text after the closing quote of {key}"));
            }
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            if quote == '\'' {
                raw
            } else {
                let mut v = String::new();
                let mut cs = raw.chars().peekable();
                while let Some(c) = cs.next() {
                    match (c, cs.peek().copied()) {
                        ('$', _) => return Err(format!("{key}: `$` would be interpolated")),
                        ('\\', Some('n')) => {
                            cs.next();
                            v.push('\n');
                        }
                        ('\\', Some('r')) => {
                            cs.next();
                            v.push('\r');
                        }
                        ('\\', Some('t')) => {
                            cs.next();
                            v.push('\t');
                        }
                        ('\\', Some('\\')) => {
                            cs.next();
                            v.push('\\');
                        }
                        _ => v.push(c),
                    }
                }
                v
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            let line: String = b[start..i].iter().collect();
            let v = line.split(" #").next().unwrap_or_default().trim_end().to_owned();
            if v.contains('$') {
                return Err(format!("{key}: `$` would be interpolated"));
            }
            v
        };
        out.insert(key, value);
    }
    Ok(out)
}

#[test]
fn the_compose_v2_oracle_follows_the_documented_examples() {
    let docs = "VAR=VAL # comment\nB=VAL# not a comment\nC=\"VAL # not a comment\"\nD='$OTHER'\nE='${OTHER}'\nF='Let\\'s go!'\nG=\"{\\\"hello\\\": \\\"json\\\"}\"\nH=\"some\\tvalue\"\nI='some\\tvalue'\nJ=some\\tvalue\nK='SPANS\nMULTIPLE\nLINES'\n";
    let got = compose_v2_env_file(docs).expect("parses");
    let want: BTreeMap<String, String> = [
        ("VAR", "VAL"),
        ("B", "VAL# not a comment"),
        ("C", "VAL # not a comment"),
        ("D", "$OTHER"),
        ("E", "${OTHER}"),
        ("F", "Let's go!"),
        ("G", "{\"hello\": \"json\"}"),
        ("H", "some\tvalue"),
        ("I", "some\\tvalue"),
        ("J", "some\\tvalue"),
        ("K", "SPANS\nMULTIPLE\nLINES"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(got, want);
    assert!(compose_v2_env_file("A=\"$HOME\"\n").is_err(), "interpolated");
    assert!(compose_v2_env_file("A='x'y\n").is_err());
}

#[test]
fn dotenv_values_are_read_literally_by_sh_bash_python_dotenv_and_docker_compose() {
    let env = Env::new();
    let sentinel = env.root().join("pwned");
    let values = corpus(&sentinel);
    let dir = project(&env, "shop", Some(&yaml_of(&values)), false);
    // The truth: what kilter itself holds (`--json`), which must be the corpus.
    let v: Value =
        serde_json::from_slice(&env.kilter(&dir).args(["env", "--json"]).output().unwrap().stdout)
            .expect("json");
    for (k, want) in &values {
        assert_eq!(v["env"][k].as_str(), Some(want.as_str()), "{k}: kilter.yaml → --json");
    }
    let out = env.kilter(&dir).args(["env", "--dotenv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    std::fs::write(dir.join(".env"), &text).unwrap();

    let mut readers: Vec<(&str, BTreeMap<String, String>)> = Vec::new();
    for shell in ["/bin/sh", "/bin/bash"] {
        assert!(Path::new(shell).exists(), "{shell} is missing");
        readers.push((shell, shell_reads(shell, &dir)));
    }
    match python_dotenv_reads(&dir) {
        Some(m) => readers.push(("python-dotenv", m)),
        None => {
            assert!(!truthy("KILTER_REQUIRE_REAL_TOOLS"), "python-dotenv is not installed");
            skipped(
                "reading `kilter env --dotenv` with python-dotenv",
                "python3 has no `dotenv` module (pip install python-dotenv)",
            );
        }
    }
    match compose_v1_reads(&dir) {
        Some(m) => readers.push(("docker-compose v1", m)),
        None => skipped(
            "reading `kilter env --dotenv` with docker-compose v1",
            "docker-compose is not installed (Debian package docker-compose)",
        ),
    }
    readers.push((
        "docker compose v2 rules (oracle)",
        compose_v2_env_file(&text).unwrap_or_else(|e| panic!("{e}\n{text}")),
    ));
    for (reader, got) in &readers {
        for (k, want) in &values {
            assert_eq!(
                got.get(k).map(String::as_str),
                Some(want.as_str()),
                "{reader} read {k} differently from\n{text}"
            );
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("pwned"))
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "a reader executed part of a value: {leftovers:?}");
}

#[test]
fn dotenv_refuses_a_value_no_quoting_keeps_literal_and_prints_nothing() {
    let env = Env::new();
    let sentinel = env.root().join("pwned");
    for bad in
        ["it's `touch {S}` and $(touch {S})", "${HOME}", "C:\\\\x $(touch {S})", "ends in \\"]
    {
        let v = bad.replace("{S}", &sentinel.display().to_string());
        let yaml = yaml_of(&[("OK".into(), "fine".into()), ("BAD".into(), v.clone())]);
        let dir = project(&env, "shop", Some(&yaml), false);
        let out = env.kilter(&dir).args(["env", "--dotenv"]).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(4), "{v}: {err}");
        assert!(
            err.contains("cannot write BAD in .env syntax that every reader takes literally"),
            "{err}"
        );
        assert!(err.contains("kilter env --json"), "{err}");
        assert_eq!(stdout_of(&out), "", "nothing half-written");
        // `kilter env` (shell exports) still carries it, quoted for the shell.
        let out = env.kilter(&dir).arg("env").output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    assert!(!sentinel.exists());
}
