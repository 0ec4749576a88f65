//! Dry-run, echo levels and the transcript (scenarios 14, 15).

use crate::helpers::*;
use crate::support::Env;
use crate::untouched::dry;

/// 14. `--dry-run`: mutations on stdout as a runnable script; only queries ran.
#[test]
fn dry_run_prints_a_script_and_runs_only_queries() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let out = env.kilter(&dir).args(["up", "--dry-run"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let script = stdout_of(&out);
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    assert!(script.contains("kind create cluster --name kilter-shop"), "{script}");
    assert!(
        script.contains("cat > ") && script.contains("kind-config.yaml) <<'KILTER_EOF'"),
        "{script}"
    );
    assert!(script.contains("create namespace shop-dev"), "{script}");
    assert!(script.contains("tilt up --port") && script.contains("2>&1 &"), "{script}");
    // The health wait: two bounded loops, the API's /readyz and then the node's Ready condition.
    let kubectl = "KUBECONFIG=";
    for (what, probe) in [
        (
            "the API server to answer /readyz",
            "kubectl --context kind-kilter-shop get --raw /readyz",
        ),
        (
            "the node to become Ready",
            "kubectl --context kind-kilter-shop wait '--for=condition=Ready' node --all '--timeout=5s'",
        ),
    ] {
        let head = format!("# wait up to 120s for {what}\n");
        let at = script.find(&head).unwrap_or_else(|| panic!("no wait for {what}:\n{script}"));
        let rest = &script[at + head.len()..];
        let until = rest.lines().nth(1).unwrap_or_default();
        assert!(
            until.starts_with(&format!("until {kubectl}"))
                && until.ends_with(&format!("{probe} >/dev/null 2>&1; do")),
            "{what}: {until}"
        );
    }
    // Then the wait for Tilt's startup lines, read only from what this start writes to its log.
    let tilt_wait = script
        .lines()
        .position(|l| {
            l.starts_with("# wait up to ") && l.ends_with("s for Tilt to get past binding its port")
        })
        .unwrap_or_else(|| panic!("no wait for Tilt:\n{script}"));
    let until = script.lines().nth(tilt_wait + 2).unwrap_or_default();
    assert!(until.starts_with("until tail -c +\"$kilter_log_from\" "), "{until}");
    for call in env.calls() {
        assert!(
            call.starts_with("docker info")
                || call.starts_with("docker inspect")
                || call.starts_with("docker volume inspect")
                || call.starts_with("docker ps -a"),
            "only read-only probes may run in --dry-run, saw: {call}"
        );
    }
    assert!(env.container("kilter-shop-control-plane").is_none());
    assert!(!env.cache_dir("shop").join("kind-config.yaml").exists(), "nothing written");
    let sh = std::process::Command::new("/bin/sh")
        .arg("-n")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh");
    assert!(sh.status.success(), "the script parses: {}", String::from_utf8_lossy(&sh.stderr));
}

/// Each verb is checked on its own (crate::untouched::dry compares the whole state before and
/// after it), so a write under `stop --dry-run` and a removal under `destroy --dry-run` cannot
/// cancel out.
#[test]
fn dry_run_stop_and_destroy_change_nothing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let mark = env.calls().len();
    let out = dry(&env, &dir, &["stop"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("docker stop kilter-shop-control-plane"));
    assert!(stdout_of(&out).contains("kill -s TERM -- -"), "{}", stdout_of(&out));
    let out = dry(&env, &dir, &["destroy"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("kind delete cluster --name kilter-shop"));
    for c in calls_since(&env, mark) {
        assert!(
            c.starts_with("docker inspect") || c.starts_with("docker info"),
            "only queries: {c}"
        );
    }
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert_eq!(std::fs::read_to_string(dir.join("kilter.yaml")).expect("read"), "name: shop\n");
    assert!(tilt_pid(&env, "shop").is_some_and(crate::support::pid_alive));
}

/// 15. Echo levels and the transcript.
#[test]
fn echo_levels_and_every_command_in_the_transcript() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);

    let out = env.kilter(&dir).arg("up").output().expect("runs");
    let err = stderr_of(&out);
    assert!(
        err.lines().any(|l| l.starts_with("$ KUBECONFIG=") && l.contains(" kind create cluster ")),
        "{err}"
    );
    assert!(!err.contains("$ docker inspect"), "queries are not echoed by default: {err}");
    assert!(stdout_of(&out).is_empty(), "stdout carries only requested output");

    let out = env.kilter(&dir).args(["-v", "up"]).output().expect("runs");
    assert!(
        stderr_of(&out).contains("$ docker inspect --type container kilter-shop-control-plane"),
        "{}",
        stderr_of(&out)
    );

    let out = env.kilter(&dir).args(["-q", "stop"]).output().expect("runs");
    assert!(out.status.success());
    assert_eq!(stderr_of(&out), "", "-q prints errors only");
    let out = env.kilter(&dir).args(["-q", "up", "--timeout", "soon"]).output().expect("runs");
    assert!(!stderr_of(&out).is_empty(), "errors still show with -q");

    // every call any fake saw appears in commands.log with a timestamp, status and duration
    let log = commands_log(&env, "shop");
    for call in env.calls() {
        assert!(
            // (a line with stdin from a file ends in `< FILE`)
            log.lines().any(|l| l.ends_with(&call)
                || l.contains(&format!(" {call}"))
                || l.contains(&format!("\t{call} < "))),
            "missing from commands.log: {call}\n{log}"
        );
    }
    let line = log.lines().find(|l| l.contains("kind create cluster")).expect("create logged");
    let fields: Vec<&str> = line.split('\t').collect();
    assert!(
        fields[0].ends_with('Z') && fields[1] == "exit=0" && fields[2].ends_with('s'),
        "{line}"
    );
}

/// What the commands print is shown under their line: with `-v` the output of the commands that
/// change something (kind's progress as it creates the cluster), with `-vv` the queries' too
/// (`docker info` answering the engine's version), by default neither.
#[test]
fn verbose_shows_what_changing_commands_print_and_debug_what_queries_print() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let created = "  │  ✓ Ensuring node image (kindest/node";
    let queried = "  │ 28.2.2";
    let out = env.kilter(&dir).args(["-v", "up", "--no-tilt"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(created), "kind's output is shown with -v: {err}");
    assert!(!err.lines().any(|l| l == queried), "a query's output is not: {err}");
    let out = env.kilter(&dir).args(["-vv", "up", "--no-tilt"]).output().expect("runs");
    let err = stderr_of(&out);
    assert!(err.lines().any(|l| l == queried), "-vv shows a query's output: {err}");
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().expect("runs");
    assert!(!stderr_of(&out).contains("  │ "), "{}", stderr_of(&out));
}

/// On a terminal (`script` gives kilter one), `error:` is painted unless `TERM=dumb` or
/// `NO_COLOR` says not to; off a terminal it never is.
#[test]
fn colour_follows_the_terminal_term_and_no_color() {
    let env = Env::new();
    let dir = env.root().join("empty");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A kilter.yaml that does not parse: every verb ends with `error:`.
    std::fs::write(dir.join("kilter.yaml"), "name: [unclosed\n").expect("write");
    let kilter = assert_cmd::cargo::cargo_bin!("kilter");
    let on_a_terminal = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new("/usr/bin/script");
        cmd.args(["-qec", &format!("{} status", kilter.display()), "/dev/null"]);
        let vars = env.vars().into_iter().filter(|(k, _)| *k != "NO_COLOR");
        cmd.env_clear().envs(vars).envs(extra.iter().copied()).current_dir(&dir);
        let out = cmd.output().expect("script runs");
        // `script` puts the terminal's output (stdout and stderr both) on its stdout.
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let painted = |s: &str| s.contains("\x1b[31;1merror:\x1b[0m");
    let xterm = on_a_terminal(&[("TERM", "xterm")]);
    assert!(xterm.contains("error:") && painted(&xterm), "{xterm:?}");
    let dumb = on_a_terminal(&[("TERM", "dumb")]);
    assert!(dumb.contains("error:") && !painted(&dumb), "{dumb:?}");
    let no_color = on_a_terminal(&[("TERM", "xterm"), ("NO_COLOR", "1")]);
    assert!(no_color.contains("error:") && !painted(&no_color), "{no_color:?}");
    let piped = env.kilter(&dir).env_remove("NO_COLOR").env("TERM", "xterm").arg("status").output();
    let piped = piped.expect("runs");
    let piped = stderr_of(&piped);
    assert!(piped.contains("error:") && !painted(&piped), "{piped:?}");
}

/// A dry run where a tool is not installed: a query that needs it is not run, and the script
/// says so on its own line, with the reason. A verb that cannot go on without the answer stops
/// there with exit 3, saying why (not "killed by a signal").
#[test]
fn a_dry_run_notes_a_query_it_could_not_run_and_stops_where_it_needs_the_answer() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres]\n"), true);
    let up = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(up.status.success(), "{}", stderr_of(&up));
    std::fs::remove_file(env.bin().join("kubectl")).expect("the fake kubectl");
    let out = env.kilter(&dir).args(["--dry-run", "restart"]).output().expect("runs");
    let (script, err) = (stdout_of(&out), stderr_of(&out));
    let kubeconfig = env.cache_dir("shop").join("kubeconfig");
    let get = format!(
        "KUBECONFIG={} kubectl --context kind-kilter-shop get 'deployment,statefulset' -n shop-dev -o json",
        kubeconfig.display()
    );
    let lines: Vec<&str> = script.lines().collect();
    assert_eq!(
        lines[3..],
        [
            "# not installed: kubectl (their commands below use the plain names; queries that need them are not run)",
            format!("# not run (kubectl is not installed): {get}").as_str(),
        ],
        "{script}"
    );
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.starts_with(
            "error: failed to list the Deployments and StatefulSets of namespace shop-dev (not run: kubectl is not installed)\n"
        ),
        "{err}"
    );
    assert!(err.contains(&format!("  $ {get}\n")), "{err}");
    assert!(!err.contains("no output on stderr") && !err.contains("signal"), "{err}");
    assert!(err.contains("kilter doctor"), "{err}");
}

/// A step says what it starts (`==> …`) and, once it is done, ticks it with its time; a step
/// that finished is never crossed out.
#[test]
fn a_finished_step_is_ticked_with_its_time() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    let started = err.find("==> Stopping cluster kilter-shop\n").unwrap_or_else(|| panic!("{err}"));
    let tick = err[started..]
        .lines()
        .find(|l| l.starts_with("✓ Stopping cluster kilter-shop ("))
        .unwrap_or_else(|| panic!("no tick after the start: {err}"));
    let took = tick.trim_start_matches("✓ Stopping cluster kilter-shop (").trim_end_matches(')');
    assert!(took.ends_with("ms") || took.ends_with('s'), "{tick}");
    assert!(took.trim_end_matches(['m', 's']).parse::<f64>().is_ok(), "{tick}");
    assert!(!err.contains('✗'), "{err}");
}

/// On a terminal a step is a spinner, and under CI it is a plain `==> …` line: `CI` counts when
/// it is set to anything but `false` or `0`.
#[test]
fn ci_false_or_0_on_a_terminal_keeps_the_spinner() {
    let Some(script) = crate::support::script_or_skip("the spinner on a terminal") else {
        return;
    };
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let kilter = assert_cmd::cargo::cargo_bin!("kilter");
    for (ci, plain) in [("true", true), ("1", true), ("false", false), ("0", false)] {
        env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
        let mut cmd = std::process::Command::new(script);
        cmd.args(["-qec", &format!("{} stop", kilter.display()), "/dev/null"]);
        let vars = env.vars().into_iter().filter(|(k, _)| *k != "CI");
        cmd.env_clear().envs(vars).env("TERM", "xterm").env("CI", ci).current_dir(&dir);
        let out = cmd.output().expect("script runs");
        // `script` puts the terminal's output (stdout and stderr both) on its stdout.
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("Stopping cluster kilter-shop"), "CI={ci}: {text:?}");
        assert_eq!(text.contains("==> Stopping cluster kilter-shop"), plain, "CI={ci}: {text:?}");
    }
    // KILTER_PROGRESS overrides both: `never` on a terminal gives plain lines, `always` on a
    // pipe does not (the spinner draws nothing where there is no terminal).
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let mut cmd = std::process::Command::new(script);
    cmd.args(["-qec", &format!("{} stop", kilter.display()), "/dev/null"]);
    let vars = env.vars().into_iter().filter(|(k, _)| *k != "CI");
    cmd.env_clear().envs(vars).env("TERM", "xterm").env("KILTER_PROGRESS", "never");
    let text =
        String::from_utf8_lossy(&cmd.current_dir(&dir).output().expect("runs").stdout).into_owned();
    assert!(text.contains("==> Stopping cluster kilter-shop"), "never: {text:?}");
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let out = env
        .kilter(&dir)
        .env_remove("CI")
        .env("KILTER_PROGRESS", "always")
        .arg("stop")
        .output()
        .expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("==> Stopping cluster"), "always: {err}");
}

/// `stop` says it stopped the project's Tilt, with its pid; a dry run says it would.
#[test]
fn stop_says_it_stopped_the_projects_tilt_and_a_dry_run_that_it_would() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let pid = tilt_pid(&env, "shop").expect("Tilt runs");
    let dry = env.kilter(&dir).args(["--dry-run", "stop"]).output().expect("runs");
    assert!(dry.status.success(), "{}", stderr_of(&dry));
    assert!(
        stderr_of(&dry).contains("would: stop Tilt of project `shop`\n"),
        "{}",
        stderr_of(&dry)
    );
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("Stopped Tilt of project `shop` (pid {pid})\n")), "{err}");
}
