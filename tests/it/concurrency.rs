//! Locks, interrupts, crash recovery and project identity (scenarios 16–19).

use std::time::Duration;

use crate::helpers::*;
use crate::support::{Env, read, wait_until};

/// 16. Two `kilter up` at once: one waits and names the holder; exactly one create.
#[test]
fn concurrent_ups_serialise_on_the_project_lock() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("create_ms", "1500");
    let a =
        env.kilter_std(&dir).arg("up").stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    let a_pid = a.id();
    assert!(wait_until(Duration::from_secs(5), || env
        .calls()
        .iter()
        .any(|c| c.starts_with("kind create"))));
    let b = env.kilter_std(&dir).arg("up").output().expect("runs");
    let a = a.wait_with_output().expect("wait");
    assert!(a.status.success(), "{}", stderr_of(&a));
    assert!(b.status.success(), "{}", stderr_of(&b));
    let waited = stderr_of(&b);
    assert!(
        waited.contains(&format!(
            "waiting for `kilter up` (pid {a_pid}) to finish with project `shop`"
        )),
        "{waited}"
    );
    assert_eq!(env.calls().iter().filter(|c| c.starts_with("kind create")).count(), 1);
}

#[test]
fn lock_wait_is_bounded() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("create_ms", "3000");
    let mut a = env.kilter_std(&dir).arg("up").spawn().expect("spawn");
    assert!(wait_until(Duration::from_secs(5), || env
        .calls()
        .iter()
        .any(|c| c.starts_with("kind create"))));
    let b =
        env.kilter_std(&dir).arg("up").env("KILTER_LOCK_TIMEOUT", "0.5").output().expect("runs");
    assert_eq!(b.status.code(), Some(1), "{}", stderr_of(&b));
    assert!(stderr_of(&b).contains("gave up after"), "{}", stderr_of(&b));
    assert!(a.wait().expect("wait").success());
}

/// A lock held by something other than the kilter its record names (a process that inherited
/// it, another program): the waiter does not name the record's pid, which has exited, as the
/// holder.
#[test]
fn a_stale_lock_record_is_not_named_as_the_holder() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let mut c = std::process::Command::new("/bin/true").spawn().expect("true");
    let dead = c.id();
    c.wait().expect("wait");
    let path = env.cache_dir("shop").join("lock");
    std::fs::write(&path, format!("pid={dead} command=kilter up\n")).expect("record");
    let held = hold_project_lock(&env, "shop");
    let out =
        env.kilter_std(&dir).arg("up").env("KILTER_LOCK_TIMEOUT", "0.3").output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains(&format!("`kilter up` (pid {dead})")), "{err}");
    assert!(
        err.contains(&format!(
            "waiting for another process (the lock file's record, `kilter up` pid {dead}, is stale: that pid has exited)"
        )),
        "{err}"
    );
    drop(held);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
}

/// 17. SIGINT during the health wait: exit 130, lock released, next `up` succeeds.
#[test]
fn sigint_during_health_wait_exits_130_and_next_up_recovers() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("ready_delay_ms", "600000");
    let child =
        env.kilter_std(&dir).arg("up").stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    assert!(wait_until(Duration::from_secs(10), || env
        .calls()
        .iter()
        .any(|c| c.ends_with("/readyz"))));
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("interrupted"));
    env.set_knob("ready_delay_ms", "0");
    let out =
        env.kilter_std(&dir).arg("up").env("KILTER_LOCK_TIMEOUT", "2").output().expect("runs");
    assert!(out.status.success(), "lock released, up recovers: {}", stderr_of(&out));
}

/// Ctrl-C while `up` waits for another process's lock ends the wait at once: exit 130, long
/// before the lock wait would time out, and nothing was started.
#[test]
fn sigint_while_waiting_for_the_project_lock_exits_130_at_once() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let calls_before = env.calls().len();
    let held = hold_project_lock(&env, "shop");
    let mut child = env
        .kilter_std(&dir)
        .arg("up")
        .env("KILTER_LOCK_TIMEOUT", "60")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let before = read_lines_until(&mut err, "waiting for ", "up");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let waited = wait_until(Duration::from_secs(20), || matches!(child.try_wait(), Ok(Some(_))));
    if !waited {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    let mut after = String::new();
    std::io::Read::read_to_string(&mut err, &mut after).expect("read");
    assert!(waited, "up still waited for the lock 20 s after Ctrl-C: {before}{after}");
    assert_eq!(status.code(), Some(130), "{before}{after}");
    assert!(after.contains("interrupted"), "{before}{after}");
    assert_eq!(env.calls().len(), calls_before, "nothing ran: {:?}", &env.calls()[calls_before..]);
    drop(held);
}

/// 18. A `kind create` killed mid-way: the next `up` deletes the partial cluster and recreates.
#[test]
fn killed_kind_create_is_recovered_by_the_next_up() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.set_knob("create_ms", "20000");
    let child =
        env.kilter_std(&dir).arg("up").stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    assert!(wait_until(Duration::from_secs(10), || env
        .container("kilter-shop-control-plane")
        .is_some()));
    let kind_pid = env
        .call_records()
        .into_iter()
        .find(|r| r["tool"] == "kind" && r["argv"][0] == "create")
        .and_then(|r| r["pid"].as_i64())
        .expect("kind pid");
    // SAFETY: kill(2) of the fake kind process this test started indirectly.
    unsafe { libc::kill(kind_pid as i32, libc::SIGKILL) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(env.container("kilter-shop-control-plane").is_some(), "kind left its half-made node");
    assert!(
        !kubeconfig(&env, "shop").exists()
            || !std::fs::read_to_string(kubeconfig(&env, "shop"))
                .unwrap_or_default()
                .contains("kind-kilter-shop")
    );

    env.set_knob("create_ms", "50");
    let mark = env.calls().len();
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("interrupted"), "{}", stderr_of(&out));
    let calls = calls_since(&env, mark);
    let del = calls
        .iter()
        .position(|c| c.starts_with("kind delete cluster"))
        .expect("deleted the partial cluster");
    let cre = calls.iter().position(|c| c.starts_with("kind create cluster")).expect("recreated");
    assert!(del < cre);
    assert!(!env.cache_dir("shop").join("creating").exists());
}

/// 19. Another directory with the same name is refused; `--adopt` proceeds.
#[test]
fn same_name_from_another_directory_needs_adopt() {
    let env = Env::new();
    let a = project(&env, "a", Some("name: shop\n"), false);
    let b = project(&env, "b", Some("name: shop\n"), false);
    env.kilter(&a).arg("up").assert().success();
    let mark = env.calls().len();
    for verb in [&["up"][..], &["stop"], &["destroy", "--yes"]] {
        let out = env.kilter(&b).args(verb).output().expect("runs");
        assert_eq!(out.status.code(), Some(4), "{verb:?}: {}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains(&a.canonicalize().expect("canon").display().to_string())
                && err.contains("--adopt")
                && err.contains("name:"),
            "{err}"
        );
    }
    assert!(calls_since(&env, mark).is_empty(), "refused before touching anything");
    let out = env.kilter(&b).args(["up", "--adopt"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        !env.calls().iter().skip(mark).any(|c| c.starts_with("kind create")),
        "adopted, not recreated"
    );
    // now `a` is the stranger
    assert_eq!(env.kilter(&a).arg("stop").output().expect("runs").status.code(), Some(4));
}

/// `kilter stop` on a running project `shop` whose kilter.yaml the shell command `change` (given
/// the file's path) rewrites at `stop`'s `docker inspect` of the node: after kilter read the file,
/// before it sets the flag. Returns the file's path and `stop`'s output.
fn stop_with_kilter_yaml_changed_meanwhile(
    env: &Env,
    change: impl Fn(&std::path::Path) -> String,
) -> (std::path::PathBuf, std::process::Output) {
    let dir = project(env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    let yaml = dir.join("kilter.yaml");
    let docker = wrap_tool(
        env,
        "docker",
        "docker-changing",
        "inspect*kilter-shop-control-plane*",
        &change(&yaml),
    );
    let out = env.kilter(&dir).env("KILTER_DOCKER", &docker).arg("stop").output().expect("runs");
    (yaml, out)
}

/// kilter.yaml edited while a verb runs (after kilter read it, before it sets the flag): the flag
/// is set in the file as it is then, and the edit is kept.
#[test]
fn stop_sets_the_flag_in_kilter_yaml_as_it_is_when_it_writes() {
    let env = Env::new();
    let (yaml, out) = stop_with_kilter_yaml_changed_meanwhile(&env, |yaml| {
        format!("printf '# edited meanwhile\\n' >> '{}'", yaml.display())
    });
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(&yaml), "name: shop\n# edited meanwhile\ncluster:\n  stopped: true\n");
}

/// kilter.yaml turned unreadable while `stop` runs (here: bytes that are not UTF-8): `stop` fails
/// before it changes anything, and the file keeps its bytes; it is not taken for a missing file
/// and replaced by a minimal one.
#[test]
fn stop_never_replaces_a_kilter_yaml_it_cannot_read() {
    let env = Env::new();
    let (yaml, out) = stop_with_kilter_yaml_changed_meanwhile(&env, |yaml| {
        format!("printf 'name: shop\\n# \\377\\n' > '{}'", yaml.display())
    });
    let err = stderr_of(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("could not read {}", yaml.display())), "{err}");
    assert_eq!(std::fs::read(&yaml).expect("read"), b"name: shop\n# \xff\n", "{err}");
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
}
