//! Names and kilter.yaml validation (scenarios 10, 11), init.

use crate::helpers::*;
use crate::support::{Env, read};

/// 10. Invalid explicit names exit 4 with the rule; a directory name is normalised with a note.
#[test]
fn invalid_explicit_names_exit_4_with_the_rule() {
    let env = Env::new();
    let long = "a".repeat(43);
    for (name, what) in [
        ("My_App", "uppercase"),
        (long.as_str(), "43"),
        ("-shop", "leading"),
        ("café", "non-ASCII"),
    ] {
        let dir = project(&env, "p", Some(&format!("name: \"{name}\"\n")), false);
        let out = env.kilter(&dir).arg("up").output().expect("runs");
        assert_eq!(out.status.code(), Some(4), "{what}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(err.contains("DNS-1123") && err.contains("42"), "{what}: states the rule: {err}");
        assert!(err.contains("kilter.yaml:1:"), "{what}: names the line: {err}");
        assert!(env.calls().is_empty(), "{what}: no tool was called");
    }
    let dir = project(&env, "q", Some("name: My_App\n"), false);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(stderr_of(&out).contains("name: my-app"), "suggests a valid name: {}", stderr_of(&out));
}

#[test]
fn directory_name_is_normalised_with_a_note() {
    let env = Env::new();
    let dir = project(&env, "My_App", None, false);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("project name `my-app`"), "{}", stderr_of(&out));
    assert!(env.container("kilter-my-app-control-plane").is_some());
}

/// 11. Malformed kilter.yaml: exit 4 with file:line:column, file unchanged.
#[test]
fn malformed_kilter_yaml_exits_4_with_position_and_is_untouched() {
    let env = Env::new();
    let cases = [
        ("bad indentation", "name: shop\n  tiltfile: Tiltfile\nkind:\n image: x\n"),
        ("cluster: stopped", "name: shop\ncluster: stopped\n"),
        ("list for a map", "name: shop\nkind:\n  - image: x\n"),
        ("services as a map", "name: shop\nservices:\n  postgres:\n    port: 5432\n"),
        ("bad service port", "name: shop\nservices:\n  - name: api\n    port: 80000\n"),
        ("unknown engine", "name: shop\ndatabase:\n  engine: oracle\n"),
    ];
    for (what, yaml) in cases {
        let dir = project(&env, "shop", Some(yaml), false);
        for verb in ["up", "stop", "down"] {
            let out = env.kilter(&dir).arg(verb).output().expect("runs");
            assert_eq!(out.status.code(), Some(4), "{what} / {verb}: {}", stderr_of(&out));
            let err = stderr_of(&out);
            let file = dir.join("kilter.yaml").display().to_string();
            let has_pos = err.lines().any(|l| {
                l.find(&file).is_some_and(|i| {
                    let rest = &l[i + file.len()..];
                    let mut parts = rest.splitn(3, ':');
                    parts.next() == Some("")
                        && parts.next().is_some_and(|n| n.parse::<u32>().is_ok())
                        && parts.next().is_some_and(|r| {
                            r.split(':').next().is_some_and(|c| c.parse::<u32>().is_ok())
                        })
                })
            });
            assert!(has_pos, "{what} / {verb}: names file:line:column: {err}");
            assert_eq!(read(dir.join("kilter.yaml")), yaml, "{what} / {verb}: unchanged");
        }
    }
    assert!(env.calls().is_empty());
}

#[test]
fn unknown_key_warns_with_did_you_mean() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\ntiltflie: Tiltfile\nport: 8080\n"), false);
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("tiltflie") && err.contains("did you mean `tiltfile`"), "{err}");
    assert!(!err.contains("`port`"), "ecosystem fields are accepted silently: {err}");
}

#[test]
fn init_writes_a_starter_and_never_overwrites() {
    let env = Env::new();
    let dir = project(&env, "Shop_Site", None, false);
    env.kilter(&dir).arg("init").assert().success();
    let text = read(dir.join("kilter.yaml"));
    assert!(text.contains("name: shop-site"), "{text}");
    let out = env.kilter(&dir).args(["init", "--name", "other"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(read(dir.join("kilter.yaml")), text, "not overwritten");
    let dir2 = project(&env, "x", None, false);
    let out = env.kilter(&dir2).args(["init", "--name", "Bad_Name"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(4));
    assert!(!dir2.join("kilter.yaml").exists());
}

/// `tiltfile:` in kilter.yaml is relative to the project directory, wherever in the project
/// kilter runs; an absolute one is taken as it is.
#[test]
fn a_relative_tiltfile_is_the_project_dirs_wherever_kilter_runs() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\ntiltfile: dev/Tiltfile\n"), false);
    std::fs::create_dir_all(dir.join("dev")).expect("mkdir");
    std::fs::write(dir.join("dev/Tiltfile"), "print('hi')\n").expect("write");
    let sub = dir.join("src");
    std::fs::create_dir_all(&sub).expect("mkdir");
    let out = env.kilter(&sub).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("no Tiltfile"), "{err}");
    let file = format!("--file {}/dev/Tiltfile --context", dir.display());
    let tilt_up = |env: &Env| env.calls().into_iter().rfind(|c| c.starts_with("tilt up "));
    assert!(tilt_up(&env).is_some_and(|c| c.contains(&file)), "{:?}", env.calls());
    env.kilter(&sub).arg("down").assert().success();

    // An absolute path, elsewhere.
    let other = env.root().join("elsewhere.Tiltfile");
    std::fs::write(&other, "print('there')\n").expect("write");
    std::fs::write(dir.join("kilter.yaml"), format!("name: shop\ntiltfile: {}\n", other.display()))
        .expect("write");
    env.kilter(&sub).arg("up").assert().success();
    let file = format!("--file {} --context", other.display());
    assert!(tilt_up(&env).is_some_and(|c| c.contains(&file)), "{:?}", env.calls());
}
