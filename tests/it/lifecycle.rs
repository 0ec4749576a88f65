//! The lifecycle verbs against the stateful fakes: up / down / stop / destroy (issue scenarios 1–9).

use crate::helpers::*;
use crate::support::{Env, pid_alive, read};

/// The project's cache directory holds its kubeconfig: a later `up` (before it starts Tilt)
/// makes it private again (0700) when something opened it up, and leaves a private one alone
/// (its dry run plans no `chmod`).
#[test]
fn up_makes_an_opened_cache_dir_private_again_and_leaves_a_private_one_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let cache = env.cache_dir("shop");
    let chmod = format!("chmod 700 {}", cache.display());
    env.kilter(&dir).arg("up").assert().success();
    assert_eq!(mode(&cache), 0o700);
    let plan = stdout_of(&env.kilter(&dir).args(["up", "--dry-run"]).output().unwrap());
    assert!(!plan.lines().any(|l| l == chmod), "a private directory is left alone:\n{plan}");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let plan = stdout_of(&env.kilter(&dir).args(["up", "--dry-run"]).output().unwrap());
    assert!(plan.lines().any(|l| l == chmod), "the plan makes it private:\n{plan}");
    assert_eq!(mode(&cache), 0o755, "the dry run changes nothing");
    env.kilter(&dir).arg("up").assert().success();
    assert_eq!(mode(&cache), 0o700, "up made it private again");
}

/// 1. Fresh `up`.
#[test]
fn fresh_up_creates_cluster_kubeconfig_namespace_and_detached_tilt() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    assert!(!env.kube_config_home().exists());
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "stderr:\n{}", stderr_of(&out));

    let cache = env.cache_dir("shop");
    let kc = kubeconfig(&env, "shop");
    let create = format!(
        "kind create cluster --name kilter-shop --kubeconfig {} --config {}",
        kc.display(),
        cache.join("kind-config.yaml").display()
    );
    assert_eq!(env.calls_of("kind"), vec![create], "exactly one kind call, with the exact argv");
    assert_eq!(mode(&kc), 0o600, "kubeconfig mode");
    assert_eq!(mode(&cache), 0o700, "cache dir mode");
    assert!(!env.kube_config_home().exists(), "~/.kube/config must never be written");
    let kc_text = read(&kc);
    assert!(kc_text.contains("name: kind-kilter-shop"), "kind's context name is kept:\n{kc_text}");

    // kind config: 20 NodePorts on 127.0.0.1 at the project's block
    let (tilt_port, base) = ports_of("shop");
    let kind_cfg = read(cache.join("kind-config.yaml"));
    assert!(
        kind_cfg.contains(&format!("hostPort: {base}"))
            && kind_cfg.contains(&format!("hostPort: {}", base + 19))
    );
    assert!(!kind_cfg.contains(&format!("hostPort: {}", base + 20)));
    let c = env.container("kilter-shop-control-plane").expect("node exists");
    assert_eq!(c["State"]["Status"], "running");
    assert!(c["HostConfig"]["PortBindings"].get(format!("{base}/tcp")).is_some(), "{c}");

    // namespace created with the explicit context and KUBECONFIG
    assert!(
        env.calls()
            .contains(&"kubectl --context kind-kilter-shop create namespace shop-dev".to_owned())
    );
    for rec in env
        .call_records()
        .iter()
        // `tilt get` asks Tilt's own API, not the cluster.
        .filter(|r| r["tool"] == "kubectl" || r["tool"] == "kind" || r["tool"] == "tilt")
        .filter(|r| !(r["tool"] == "tilt" && r["argv"][0] == "get"))
    {
        assert_eq!(
            rec["env"]["KUBECONFIG"],
            kc.display().to_string(),
            "every cluster-talking child gets KUBECONFIG: {rec}"
        );
    }

    // Tilt: detached, own process group, the project's port and env, recorded in tilt.json
    let tilt = env.call_records().into_iter().find(|r| r["tool"] == "tilt").expect("tilt ran");
    let argv: Vec<String> = serde_json::from_value(tilt["argv"].clone()).expect("argv");
    let want_tilt: Vec<String> = [
        "up",
        "--port",
        &tilt_port.to_string(),
        "--host",
        "127.0.0.1",
        "--file",
        &dir.join("Tiltfile").display().to_string(),
        "--context",
        "kind-kilter-shop",
        "--namespace",
        "shop-dev",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(argv, want_tilt);
    assert_eq!(tilt["env"]["KILTER_PROJECT"], "shop");
    assert_eq!(tilt["env"]["KILTER_NAMESPACE"], "shop-dev");
    assert_eq!(tilt["env"]["KILTER_TILT_PORT"], tilt_port.to_string());
    assert_eq!(tilt["env"]["KILTER_PORT_BASE"], base.to_string());
    let pid = tilt_pid(&env, "shop").expect("tilt.json has a pid");
    assert!(pid_alive(pid), "Tilt outlives kilter");
    assert_eq!(tilt["pgid"], tilt["pid"], "Tilt runs in its own process group");
    assert!(read(cache.join("tilt.log")).contains("Tilt started on"));
    assert!(stderr_of(&out).contains(&format!("export KUBECONFIG={}", kc.display())));
}

/// 2. `up` while running reuses the cluster and restarts Tilt.
#[test]
fn up_while_running_reuses_the_cluster_and_restarts_tilt() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let first = tilt_pid(&env, "shop").expect("pid");
    let mark = env.calls().len();
    env.kilter(&dir).arg("up").assert().success();
    let calls = calls_since(&env, mark);
    assert!(
        !calls.iter().any(|c| c.starts_with("kind create") || c.starts_with("docker start")),
        "{calls:#?}"
    );
    let second = tilt_pid(&env, "shop").expect("pid");
    assert_ne!(first, second, "Tilt was restarted");
    assert!(wait_dead(first), "the old Tilt is gone");
    assert!(pid_alive(second));
}

/// 3. `down` stops Tilt only.
#[test]
fn down_stops_tilt_and_leaves_the_cluster_running() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    let pid = tilt_pid(&env, "shop").expect("pid");
    let out = env.kilter(&dir).arg("down").output().expect("runs");
    assert!(out.status.success());
    assert!(stderr_of(&out).contains("keep running"), "{}", stderr_of(&out));
    assert!(wait_dead(pid));
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert!(!env.calls().iter().any(|c| c.starts_with("tilt down")), "never `tilt down`");
    assert!(!env.cache_dir("shop").join("tilt.json").exists());
    // idempotent
    env.kilter(&dir).arg("down").assert().success();
}

/// 4 + 5. `stop` writes only the flag; `up` resumes with `docker start` and restores the file.
#[test]
fn stop_then_up_resumes_and_keeps_kilter_yaml_byte_identical() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(DOCUMENTED_YAML), true);
    env.kilter(&dir).arg("up").assert().success();
    let pid = tilt_pid(&env, "shop").expect("pid");

    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(env.calls().contains(&"docker stop kilter-shop-control-plane".to_owned()));
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("exited"));
    assert_eq!(
        read(dir.join("kilter.yaml")),
        format!("{DOCUMENTED_YAML}cluster:\n  stopped: true\n")
    );
    assert!(wait_dead(pid), "stop includes down");
    assert!(stderr_of(&out).contains("kilter up"), "says how to resume");
    // idempotent
    env.kilter(&dir).arg("stop").assert().success();
    assert_eq!(
        read(dir.join("kilter.yaml")),
        format!("{DOCUMENTED_YAML}cluster:\n  stopped: true\n")
    );

    env.set_knob("ready_delay_ms", "400");
    let mark = env.calls().len();
    env.kilter(&dir).arg("up").assert().success();
    let calls = calls_since(&env, mark);
    assert!(calls.contains(&"docker start kilter-shop-control-plane".to_owned()), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("kind create")));
    let readyz = calls.iter().filter(|c| c.ends_with("get --raw /readyz")).count();
    assert!(readyz >= 2, "waited for health by polling /readyz ({readyz} polls)");
    assert_eq!(read(dir.join("kilter.yaml")), DOCUMENTED_YAML, "byte-identical after stop + up");
}

/// A tab after a key's colon is YAML separation whitespace: `up` reads `name:\tshop`, and
/// `stop` + `up` keep every byte of the file, the tabs included.
#[test]
fn a_tab_after_a_colon_is_read_and_kept_byte_for_byte_through_stop_and_up() {
    let env = Env::new();
    let yaml = "name:\tshop\t# the project\nregistry:\t\ttrue\nenv:\n  GREETING:\thello\n";
    let dir = project(&env, "shop", Some(yaml), false);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(env.calls().iter().any(|c| c.starts_with("kind create cluster --name kilter-shop")));
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(dir.join("kilter.yaml")), format!("{yaml}cluster:\n  stopped: true\n"));
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(dir.join("kilter.yaml")), yaml, "byte-identical after stop + up");
}

/// `stop` without kilter.yaml creates a minimal one.
#[test]
fn stop_without_kilter_yaml_creates_a_minimal_one() {
    let env = Env::new();
    let dir = project(&env, "shop", None, false);
    env.kilter(&dir).arg("up").assert().success();
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(dir.join("kilter.yaml")), "cluster:\n  stopped: true\n");
    let wrote = format!("Wrote {} with `cluster.stopped: true`", dir.join("kilter.yaml").display());
    assert!(stderr_of(&out).contains(&wrote), "the new file is named: {}", stderr_of(&out));
    env.kilter(&dir).arg("up").assert().success();
    assert_eq!(read(dir.join("kilter.yaml")), "", "flag removed again");
    // The file is there now (empty): setting the flag in it is not news.
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(dir.join("kilter.yaml")), "cluster:\n  stopped: true\n");
    assert!(!stderr_of(&out).contains("Wrote "), "{}", stderr_of(&out));
}

/// 6. A node that exited without the flag (crash, reboot) is resumed, never recreated.
#[test]
fn crashed_node_without_flag_is_resumed_with_a_note() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    env.ctl(&["crash", "kilter-shop-control-plane"]);
    let mark = env.calls().len();
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let calls = calls_since(&env, mark);
    assert!(calls.contains(&"docker start kilter-shop-control-plane".to_owned()), "{calls:#?}");
    assert!(!calls.iter().any(|c| c.starts_with("kind create") || c.starts_with("kind delete")));
    let err = stderr_of(&out);
    assert!(err.contains("not stopped with `kilter stop`") && err.contains("OOM"), "{err}");
}

/// 7. The flag says stopped but the node is gone: warn, then create.
#[test]
fn flag_says_stopped_but_node_is_gone_warns_and_creates() {
    let env = Env::new();
    let yaml = "name: shop\ncluster:\n  stopped: true\n";
    let dir = project(&env, "shop", Some(yaml), false);
    let out = env.kilter(&dir).arg("up").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("no longer exists"), "{}", stderr_of(&out));
    assert_eq!(env.calls_of("kind").len(), 1);
    assert!(env.calls_of("kind")[0].starts_with("kind create cluster"));
    assert_eq!(read(dir.join("kilter.yaml")), "name: shop\n");
}

/// 8. `destroy` needs confirmation without a TTY; with `--yes` it deletes and keeps snapshots.
#[test]
fn destroy_requires_yes_without_a_tty_and_keeps_snapshots() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    env.kilter(&dir).arg("up").assert().success();
    env.kilter(&dir).arg("stop").assert().success();
    let snaps = env.data_dir("shop").join("snapshots");
    std::fs::create_dir_all(&snaps).expect("mkdir");
    std::fs::write(snaps.join("keep.dump"), b"PGDMP-data").expect("write");

    let mark = env.calls().len();
    let out = env.kilter(&dir).arg("destroy").output().expect("runs");
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("--yes"));
    assert!(calls_since(&env, mark).is_empty(), "nothing touched");
    assert!(env.container("kilter-shop-control-plane").is_some());

    let out = env.kilter(&dir).args(["destroy", "--yes"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let kc = kubeconfig(&env, "shop");
    assert!(env.calls().contains(&format!(
        "kind delete cluster --name kilter-shop --kubeconfig {}",
        kc.display()
    )));
    assert!(env.container("kilter-shop-control-plane").is_none());
    assert!(!kc.exists(), "kubeconfig removed");
    assert!(!env.cache_dir("shop").join("tilt.json").exists());
    assert_eq!(std::fs::read(snaps.join("keep.dump")).expect("kept"), b"PGDMP-data");
    assert_eq!(read(dir.join("kilter.yaml")), "name: shop\n", "flag removed");
    // A bare `.dump` is a snapshot of kilter 0.1's layout.
    let kept = format!("Snapshots are kept: 1 in {} (10 bytes)", snaps.display());
    assert!(stderr_of(&out).contains(&kept), "prints where the snapshots are: {}", stderr_of(&out));
    // port slot kept
    let reg = read(env.state_home().join("kilter/ports.json"));
    assert!(reg.contains("\"shop\""), "{reg}");
}

/// A lost `ports.json` is rebuilt from the clusters that run: a project keeps the slot it has,
/// even when that is not its preferred one.
#[test]
fn a_lost_port_registry_is_rebuilt_from_the_running_clusters() {
    let env = Env::new();
    let reg_path = env.state_home().join("kilter/ports.json");
    std::fs::create_dir_all(reg_path.parent().unwrap()).unwrap();
    // `shop` prefers slot 17 (docs/files.md); another project holds it, so `shop` gets 18.
    std::fs::write(&reg_path, r#"{"version":1,"projects":{"other":{"slot":17}}}"#).unwrap();
    let shop = project(&env, "shop", Some("name: shop\n"), false);
    let up = || env.kilter(&shop).args(["-v", "up", "--no-tilt"]).output().expect("runs");
    let rebuilt = "was missing; rebuilt it from the existing clusters";
    let out = up();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains(rebuilt), "{}", stderr_of(&out));
    // No services: the summary has no services or env lines.
    assert!(!stderr_of(&out).contains("  env  "), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("  services  "), "{}", stderr_of(&out));
    let slot_of = || -> serde_json::Value {
        let reg: serde_json::Value = serde_json::from_str(&read(&reg_path)).expect("json");
        reg["projects"]["shop"]["slot"].clone()
    };
    assert_eq!(slot_of(), 18);
    // Another running project: the rebuild must find its slot too (`blog` prefers 101).
    let blog = project(&env, "blog", Some("name: blog\n"), false);
    env.kilter(&blog).args(["up", "--no-tilt"]).assert().success();
    std::fs::remove_file(&reg_path).unwrap();
    let out = up();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(rebuilt), "{}", stderr_of(&out));
    assert_eq!(slot_of(), 18, "rebuilt from the running cluster's port mappings");
    let reg: serde_json::Value = serde_json::from_str(&read(&reg_path)).expect("json");
    assert_eq!(reg["projects"]["blog"]["slot"], 101, "{reg}");
    assert_eq!(reg["version"], 1, "a rebuilt registry is written in format 1 (docs/files.md)");
    // Nothing changed: the file is not rewritten (the atomic writer would give it a new inode).
    let inode = || std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&reg_path).unwrap());
    let before = inode();
    assert!(up().status.success());
    assert_eq!(inode(), before, "an unchanged registry is left alone");
}

/// `up` on a running project leaves a current kubeconfig alone, and exports it again with `kind
/// export kubeconfig` when it is missing, points at another port (a recreated cluster), holds more
/// than one context (someone merged into it), or the cluster was just resumed.
#[test]
fn up_exports_the_kubeconfig_again_only_when_it_is_stale() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let exports =
        |env: &Env| env.calls().iter().filter(|c| c.starts_with("kind export kubeconfig")).count();
    let up = |env: &Env| env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    up(&env);
    let kc = kubeconfig(&env, "shop");
    let good = read(&kc);
    let port = good
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://127.0.0.1:"))
        .expect("server line")
        .to_owned();
    up(&env);
    assert_eq!(exports(&env), 0, "a current kubeconfig is left alone");

    let cases: [(&str, String); 3] = [
        ("missing", String::new()),
        ("another port", good.replace(&format!("127.0.0.1:{port}"), "127.0.0.1:1")),
        (
            "two contexts",
            good.replace(
                "contexts:\n",
                "contexts:\n- context:\n    cluster: other\n    user: other\n  name: other\n",
            ),
        ),
    ];
    for (n, (what, text)) in cases.iter().enumerate() {
        if text.is_empty() {
            std::fs::remove_file(&kc).unwrap();
        } else {
            std::fs::write(&kc, text).unwrap();
        }
        up(&env);
        assert_eq!(exports(&env), n + 1, "{what}: exported again");
        assert_eq!(read(&kc), good, "{what}: the kubeconfig is current again");
    }
    env.kilter(&dir).arg("stop").assert().success();
    up(&env);
    assert_eq!(exports(&env), 4, "resumed: exported again (the API port may have moved)");
}

/// `up` creates the project namespace only when the health check saw it missing: not again on
/// a running project, and again when it was deleted.
#[test]
fn up_creates_the_namespace_only_when_it_is_missing() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let creates =
        |env: &Env| env.calls().iter().filter(|c| c.ends_with("create namespace shop-dev")).count();
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    assert_eq!(creates(&env), 1);
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    assert_eq!(creates(&env), 1, "not again on a running project");
    // Delete it behind kilter's back, in the fake cluster's store.
    let id = env.container("kilter-shop-control-plane").expect("node")["Id"]
        .as_str()
        .expect("id")
        .to_owned();
    let ns_file = env.state_dir().join("clusters").join(id).join("namespaces.json");
    let mut ns: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&read(&ns_file)).expect("json");
    assert!(ns.remove("shop-dev").is_some(), "{ns:?}");
    std::fs::write(&ns_file, serde_json::to_string(&ns).unwrap()).unwrap();
    env.kilter(&dir).args(["up", "--no-tilt"]).assert().success();
    assert_eq!(creates(&env), 2, "created again");
    let ns: serde_json::Value = serde_json::from_str(&read(&ns_file)).expect("json");
    assert!(ns.get("shop-dev").is_some(), "{ns}");
}

/// A `create namespace` that fails for another reason than "already exists" is `up`'s failure,
/// with kubectl's words; it is not taken for a namespace that is there.
#[test]
fn a_namespace_that_cannot_be_created_fails_up_with_kubectls_error() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [redis]\n"), false);
    // `up --no-tilt` with a kubectl whose `create namespace` runs `action` instead.
    let up_with = |name: &str, action: &str| {
        let kubectl = wrap_tool(&env, "kubectl", name, "*'create namespace'*", action);
        env.kilter(&dir).env("KILTER_KUBECTL", &kubectl).args(["up", "--no-tilt"]).output().unwrap()
    };
    let out = up_with(
        "kubectl-refusing-namespaces",
        "echo 'Error from server (Forbidden): namespaces is forbidden: User \"dev\" cannot create resource \"namespaces\" in API group \"\" at the cluster scope' >&2; exit 1",
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot create resource \"namespaces\""), "kubectl's words: {err}");
    assert!(err.contains("create namespace shop-dev"), "the command: {err}");
    assert!(!err.contains("Applying services"), "no service applied: {err}");
    // And "already exists" (another client created it meanwhile) is not a failure.
    let out = up_with(
        "kubectl-namespace-exists",
        "\"$fake\" \"$@\"; echo 'Error from server (AlreadyExists): namespaces \"shop-dev\" already exists' >&2; exit 1",
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
}

/// 9. Two projects side by side.
#[test]
fn two_projects_are_isolated() {
    let env = Env::new();
    let shop = project(&env, "shop", Some("name: shop\n"), true);
    let blog = project(&env, "blog", Some("name: blog\n"), true);
    env.kilter(&shop).arg("up").assert().success();
    env.kilter(&blog).arg("up").assert().success();
    assert_ne!(kubeconfig(&env, "shop"), kubeconfig(&env, "blog"));
    assert!(read(kubeconfig(&env, "blog")).contains("kind-kilter-blog"));
    assert!(
        !read(kubeconfig(&env, "blog")).contains("kind-kilter-shop"),
        "one context per kubeconfig"
    );
    assert!(
        env.calls()
            .contains(&"kubectl --context kind-kilter-blog create namespace blog-dev".to_owned())
    );
    let reg: serde_json::Value =
        serde_json::from_str(&read(env.state_home().join("kilter/ports.json"))).expect("json");
    assert_ne!(reg["projects"]["shop"]["slot"], reg["projects"]["blog"]["slot"]);
    let tilts: Vec<serde_json::Value> = env
        .call_records()
        .into_iter()
        .filter(|r| r["tool"] == "tilt" && r["argv"][0] == "up")
        .collect();
    assert_eq!(tilts.len(), 2);
    assert_ne!(tilts[0]["argv"][2], tilts[1]["argv"][2], "distinct Tilt ports");
    let blog_pid = tilt_pid(&env, "blog").expect("pid");

    let out = env.kilter(&shop).args(["destroy", "--yes"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let none = format!(
        "Snapshots are kept in {} (none yet)",
        env.data_dir("shop").join("snapshots").display()
    );
    assert!(stderr_of(&out).contains(&none), "{}", stderr_of(&out));
    assert!(env.container("kilter-shop-control-plane").is_none());
    assert_eq!(container_status(&env, "kilter-blog-control-plane").as_deref(), Some("running"));
    assert!(pid_alive(blog_pid), "the other project's Tilt is untouched");
    assert!(kubeconfig(&env, "blog").exists());
}

/// On a terminal, `destroy` asks for the project name: a wrong answer destroys nothing (exit 4),
/// the right one proceeds. Runs kilter under a pseudo-terminal with util-linux `script`.
#[test]
fn destroy_on_a_terminal_asks_for_the_project_name() {
    let Some(script) = crate::support::script_or_skip("destroy's terminal confirmation") else {
        return;
    };
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    let kilter = env!("CARGO_BIN_EXE_kilter");
    let run = |answer: &str| {
        let cmd = crate::support::on_a_terminal(script, &env, &dir, &format!("{kilter} destroy"));
        crate::support::answered(cmd, answer)
    };
    let out = run("blog");
    let shown = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(4), "{shown}");
    assert!(shown.contains("Type the project name `shop` to confirm"), "{shown}");
    assert!(env.container("kilter-shop-control-plane").is_some(), "nothing destroyed");
    let out = run("shop");
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout_of(&out), stderr_of(&out));
    assert!(env.container("kilter-shop-control-plane").is_none());
}

/// `stop` with no cluster has nothing to flag: it never even prepares an edit of kilter.yaml, so
/// a file kilter could not edit (an alias on `cluster:`) is no obstacle and stays as it is.
#[test]
fn stop_without_a_cluster_leaves_kilter_yaml_alone() {
    let env = Env::new();
    let yaml = "base: &c\n  stopped: false\nname: shop\ncluster: *c\n";
    let dir = project(&env, "shop", Some(yaml), false);
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read(dir.join("kilter.yaml")), yaml);
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["kilter.yaml"], "no staged file left behind");
}

/// A kind killed while it wrote the kubeconfig leaves `kubeconfig.lock`; kind then refuses every
/// write of that file (the real kind v0.32.0: `failed to lock config file: … file exists`, also
/// from `kind delete`, after deleting the node). Under the project lock the lock file is stale:
/// `up` (resume, kind export kubeconfig) and `destroy` remove it and go through.
#[test]
fn a_stale_kubeconfig_lock_of_a_killed_kind_does_not_block_up_or_destroy() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    let ok = |args: &[&str]| {
        let out = env.kilter(&dir).args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}:\n{}", stderr_of(&out));
        out
    };
    ok(&["up"]);
    ok(&["stop"]);
    let lock = env.cache_dir("shop").join("kubeconfig.lock");
    std::fs::write(&lock, "").unwrap();
    let out = ok(&["up"]);
    assert!(stderr_of(&out).contains("kind export kubeconfig"), "{}", stderr_of(&out));
    assert!(!lock.exists());
    std::fs::write(&lock, "").unwrap();
    ok(&["destroy", "--yes"]);
    assert!(!lock.exists());
    assert!(env.container("kilter-shop-control-plane").is_none());
}

/// A directory nothing more can be written into, for as long as it lives: as root (who ignores
/// permission bits), a tiny tmpfs mounted over it with its contents copied in and then filled
/// up (ENOSPC, a full disk); otherwise mode 0500 (EACCES).
struct Unwritable {
    dir: std::path::PathBuf,
    mounted: bool,
}

impl Unwritable {
    /// `None` (reported as skipped) when root cannot mount a tmpfs here.
    fn new(dir: &std::path::Path) -> Option<Unwritable> {
        use std::os::unix::fs::PermissionsExt as _;
        use std::process::Command;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
            return Some(Unwritable { dir: dir.to_owned(), mounted: false });
        }
        let saved = tempfile::tempdir().unwrap();
        let copy = |from: &std::path::Path, to: &std::path::Path| {
            let st =
                Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status();
            assert!(st.is_ok_and(|s| s.success()), "cp -a");
        };
        copy(dir, saved.path());
        let mount = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
            .arg(dir)
            .output();
        if !mount.as_ref().is_ok_and(|o| o.status.success()) {
            crate::support::skipped(
                "a full cache dir",
                &format!("cannot mount a tmpfs as root: {mount:?}"),
            );
            return None;
        }
        let full = Unwritable { dir: dir.to_owned(), mounted: true };
        copy(saved.path(), dir);
        // Fill it: write until the filesystem says it is full.
        let mut f = std::fs::File::create(dir.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        let _ = f.sync_all();
        assert!(std::fs::write(dir.join("probe"), b"x").is_err(), "the tmpfs is full");
        Some(full)
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        if self.mounted {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.dir).status();
        } else {
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
    }
}

/// `stop` writes `flag-undo.json` into the cache dir: with that dir full (or not writable),
/// `stop` fails *before* it stops anything. The node runs on, kilter.yaml is unchanged, no
/// record is left half-written, and once there is room again `stop` works.
#[test]
fn stop_with_a_full_cache_dir_fails_before_it_stops_anything() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    env.kilter(&dir).arg("up").assert().success();
    let cache = env.cache_dir("shop");
    let mark = env.calls().len();
    let out = {
        let Some(_full) = Unwritable::new(&cache) else { return };
        let out = env.kilter(&dir).arg("stop").output().expect("runs");
        assert!(!cache.join("flag-undo.json").exists(), "no undo record");
        out
    };
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("flag-undo.json"), "names the file it cannot write:\n{err}");
    let calls = calls_since(&env, mark);
    assert!(!calls.iter().any(|c| c.starts_with("docker stop")), "nothing stopped: {calls:#?}");
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert_eq!(read(dir.join("kilter.yaml")), "name: shop\n", "kilter.yaml unchanged");
    let stray: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("kilter-tmp"))
        .collect();
    assert!(stray.is_empty(), "no staged file left beside kilter.yaml: {stray:?}");

    // With room again, the same `stop` goes through.
    let out = env.kilter(&dir).arg("stop").output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(container_status(&env, "kilter-shop-control-plane").as_deref(), Some("exited"));
    assert!(cache.join("flag-undo.json").exists());
}

/// A kubeconfig someone opened up (0644: it holds the cluster's client key) is made private
/// again by the next `up`, which shows the `chmod` it runs (`-v`) and prints it in the dry run.
#[test]
fn up_makes_an_opened_up_kubeconfig_private_again() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    let out = env.kilter(&dir).args(["up", "--no-tilt"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let kc = kubeconfig(&env, "shop");
    std::fs::set_permissions(&kc, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let chmod = format!("chmod 600 {}", kc.display());
    let dry = env.kilter(&dir).args(["--dry-run", "up", "--no-tilt"]).output().expect("runs");
    assert!(dry.status.success(), "{}", stderr_of(&dry));
    assert!(stdout_of(&dry).lines().any(|l| l == chmod), "{}", stdout_of(&dry));
    assert_eq!(mode(&kc), 0o644, "the dry run changed nothing");
    let out = env.kilter(&dir).args(["-v", "up", "--no-tilt"]).output().expect("runs");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(&format!("$ {chmod}")), "{}", stderr_of(&out));
    assert_eq!(mode(&kc), 0o600);
    // Private already: nothing to change, nothing planned.
    let dry = env.kilter(&dir).args(["--dry-run", "up", "--no-tilt"]).output().expect("runs");
    assert!(!stdout_of(&dry).contains("chmod"), "{}", stdout_of(&dry));
}
