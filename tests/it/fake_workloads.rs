//! Self-tests of the fake cluster's workloads (tests/fake/workloads.rs): `ctl workload|apply|log`
//! and kubectl `get` / `exec` / `logs` / `rollout restart|status`, as docs/real-tools.md
//! ("kubectl") describes them.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::Env;

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn kubeconfig(env: &Env) -> PathBuf {
    env.root().join("kubeconfig")
}

/// A running fake cluster `kilter-shop` with namespace `shop-dev`.
fn cluster() -> Env {
    let env = Env::new();
    let (code, _, err) = run(env
        .tool("kind")
        .args(["create", "cluster", "--name", "kilter-shop", "--kubeconfig"])
        .arg(kubeconfig(&env)));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&mut kubectl(&env, &["create", "namespace", "shop-dev"]));
    assert_eq!(code, 0, "{err}");
    env
}

fn kubectl(env: &Env, args: &[&str]) -> Command {
    let mut c = env.tool("kubectl");
    c.arg("--kubeconfig").arg(kubeconfig(env)).args(args);
    c
}

fn ok(env: &Env, args: &[&str]) -> String {
    let (code, out, err) = run(&mut kubectl(env, args));
    assert_eq!(code, 0, "kubectl {args:?}: {err}");
    out
}

fn json(env: &Env, args: &[&str]) -> Value {
    serde_json::from_str(&ok(env, args)).unwrap()
}

fn pods(env: &Env) -> Vec<Value> {
    json(env, &["get", "pods", "-n", "shop-dev", "-o", "json"])["items"].as_array().unwrap().clone()
}

fn pod<'a>(pods: &'a [Value], prefix: &str) -> &'a Value {
    pods.iter().find(|p| p["metadata"]["name"].as_str().unwrap().starts_with(prefix)).unwrap()
}

#[test]
fn ctl_workload_makes_real_shaped_workloads_and_pods() {
    let env = cluster();
    assert_eq!(
        env.ctl(&[
            "workload",
            "shop-dev",
            "postgres",
            "--kind",
            "statefulset",
            "--image",
            "postgres:15"
        ]),
        "postgres-0\n"
    );
    let web = env.ctl(&["workload", "shop-dev", "web", "--replicas", "2"]);
    assert_eq!(web.lines().count(), 2, "{web}");
    env.ctl(&["workload", "shop-dev", "api", "--crash", "--restarts", "7"]);
    env.ctl(&["workload", "shop-dev", "worker", "--phase", "Pending"]);

    // The listing is a generic List with a 4-space indent and sorted keys.
    let text = ok(&env, &["get", "deployment,statefulset", "-n", "shop-dev", "-o", "json"]);
    assert!(text.starts_with("{\n    \"apiVersion\": \"v1\",\n    \"items\": ["), "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let items = list["items"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i["kind"].as_str().unwrap(), i["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Deployment", "api"),
            ("Deployment", "web"),
            ("Deployment", "worker"),
            ("StatefulSet", "postgres")
        ]
    );
    let web_d = &items[1];
    assert_eq!(web_d["apiVersion"], "apps/v1");
    assert_eq!(web_d["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(web_d["status"]["readyReplicas"], 2);
    assert_eq!(web_d["status"]["availableReplicas"], 2);
    let api_d = &items[0];
    assert!(api_d["status"].get("readyReplicas").is_none(), "zero counts are omitted: {api_d}");
    assert_eq!(api_d["status"]["unavailableReplicas"], 1);
    let sts = &items[3];
    assert_eq!(sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"], 0);
    assert_eq!(sts["status"]["readyReplicas"], 1);
    for (t, n) in [("deploy", 3), ("sts", 1), ("deployments.apps", 3), ("statefulset", 1)] {
        assert_eq!(
            json(&env, &["get", t, "-n", "shop-dev", "-o", "json"])["items"]
                .as_array()
                .unwrap()
                .len(),
            n,
            "{t}"
        );
    }

    let ps = pods(&env);
    assert_eq!(ps.len(), 5);
    let db = pod(&ps, "postgres-0");
    assert_eq!(db["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    assert_eq!(db["metadata"]["labels"]["app"], "postgres");
    assert_eq!(db["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "postgres-0");
    assert_eq!(db["status"]["phase"], "Running");
    assert_eq!(db["status"]["containerStatuses"][0]["ready"], true);
    assert!(db["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].is_string());
    assert_eq!(db["status"]["containerStatuses"][0]["image"], "docker.io/library/postgres:15");
    assert_eq!(db["spec"]["nodeName"], "kilter-shop-control-plane");

    let w = pod(&ps, "web-");
    let rs = w["metadata"]["ownerReferences"][0]["name"].as_str().unwrap();
    assert_eq!(w["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    let hash = w["metadata"]["labels"]["pod-template-hash"].as_str().unwrap();
    assert_eq!(rs, format!("web-{hash}"));
    assert!(w["metadata"]["name"].as_str().unwrap().starts_with(&format!("{rs}-")));
    let rs_obj = json(&env, &["get", "rs", rs, "-n", "shop-dev", "-o", "json"]);
    assert_eq!(rs_obj["metadata"]["ownerReferences"][0]["name"], "web");

    let api = pod(&ps, "api-");
    let st = &api["status"]["containerStatuses"][0];
    assert_eq!(api["status"]["phase"], "Running");
    assert_eq!(st["state"]["waiting"]["reason"], "CrashLoopBackOff");
    assert_eq!(st["restartCount"], 7);
    assert_eq!(st["ready"], false);
    assert_eq!(st["lastState"]["terminated"]["reason"], "Error");

    let pending = pod(&ps, "worker-");
    assert_eq!(pending["status"]["phase"], "Pending");
    assert!(pending["status"].get("containerStatuses").is_none(), "{pending}");
    assert!(pending["spec"].get("nodeName").is_none());
    assert_eq!(pending["status"]["conditions"][0]["reason"], "Unschedulable");

    // Selectors pick the workload's pods.
    let sel = json(&env, &["get", "pods", "-n", "shop-dev", "-l", "app=web", "-o", "json"]);
    assert_eq!(sel["items"].as_array().unwrap().len(), 2);
}

#[test]
fn ctl_apply_stores_objects_in_their_real_shape() {
    let env = cluster();
    let file = env.root().join("objs.json");
    std::fs::write(
        &file,
        r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"cache"},
             "spec":{"replicas":1,"selector":{"matchLabels":{"app":"cache"}}}},
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"cache-1","labels":{"app":"cache"}},
             "spec":{"containers":[{"name":"redis","image":"redis:7"}]},"status":{"phase":"Running"}}]}"#,
    )
    .unwrap();
    let out = env.ctl(&["apply", "kilter-shop", "shop-dev", file.to_str().unwrap()]);
    assert_eq!(out, "deployment.apps/cache created\npod/cache-1 created\n");
    let d = json(&env, &["get", "deployment/cache", "-n", "shop-dev", "-o", "json"]);
    assert_eq!(d["metadata"]["namespace"], "shop-dev");
    assert_eq!(d["metadata"]["generation"], 1);
    assert!(d["metadata"]["uid"].is_string() && d["metadata"]["creationTimestamp"].is_string());
    let p = json(&env, &["get", "pod", "cache-1", "-n", "shop-dev", "-o", "json"]);
    assert_eq!(p["spec"]["containers"][0]["image"], "redis:7");
}

#[test]
fn exec_runs_the_command_on_the_host_with_the_remote_exit_code() {
    let env = cluster();
    env.ctl(&["workload", "shop-dev", "postgres", "--kind", "statefulset"]);
    env.ctl(&["workload", "shop-dev", "api", "--crash"]);
    env.ctl(&["workload", "shop-dev", "worker", "--phase", "Pending"]);
    let ps = pods(&env);
    let api = pod(&ps, "api-")["metadata"]["name"].as_str().unwrap().to_string();
    let worker = pod(&ps, "worker-")["metadata"]["name"].as_str().unwrap().to_string();

    // No program on the exec path: containerd's error.
    let (code, _, err) = run(&mut kubectl(
        &env,
        &["exec", "postgres-0", "-n", "shop-dev", "--", "sh", "-c", "true"],
    ));
    assert_eq!(code, 1);
    assert!(err.contains("exec: \"sh\": executable file not found in $PATH: unknown"), "{err}");

    env.set_knob("exec_path", "/usr/bin:/bin");
    let (code, out, err) = run(&mut kubectl(
        &env,
        &[
            "exec",
            "postgres-0",
            "-n",
            "shop-dev",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    ));
    assert_eq!((code, out.as_str()), (3, "out\n"));
    assert_eq!(err, "err\ncommand terminated with exit code 3\n");

    // -i forwards stdin; without it the command sees none.
    let mut child = kubectl(&env, &["exec", "-i", "postgres-0", "-n", "shop-dev", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"through stdin").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"through stdin");
    let (code, out, _) =
        run(kubectl(&env, &["exec", "postgres-0", "-n", "shop-dev", "--", "cat"])
            .stdin(Stdio::piped()));
    assert_eq!((code, out.as_str()), (0, ""));

    // The knobs reach the command's environment.
    env.set_knob("pg_host", "/tmp/sock");
    env.set_knob("pg_port", "5433");
    let (_, out, _) = run(&mut kubectl(
        &env,
        &[
            "exec",
            "statefulset/postgres",
            "-n",
            "shop-dev",
            "--",
            "sh",
            "-c",
            "echo $PGHOST:$PGPORT",
        ],
    ));
    assert_eq!(out, "/tmp/sock:5433\n");

    // Real errors.
    let cases: [(&[&str], &str); 5] = [
        (
            &["exec", "nope", "-n", "shop-dev", "--", "true"],
            "Error from server (NotFound): pods \"nope\" not found\n",
        ),
        (
            &["exec", &api, "-n", "shop-dev", "--", "true"],
            "error: unable to upgrade connection: container not found (\"api\")\n",
        ),
        (
            &["exec", &worker, "-n", "shop-dev", "--", "true"],
            &format!(
                "Error from server (BadRequest): pod {worker} does not have a host assigned\n"
            ),
        ),
        (
            &["exec", "postgres-0", "-n", "shop-dev", "-c", "nope", "--", "true"],
            "error: container nope is not valid for pod postgres-0 out of: postgres\n",
        ),
        (
            &["exec", "postgres-0", "-n", "shop-dev", "true"],
            "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\nSee 'kubectl exec -h' for help and examples\n",
        ),
    ];
    for (args, want) in cases {
        let (code, _, err) = run(&mut kubectl(&env, args));
        assert_eq!((code, err.as_str()), (1, want), "{args:?}");
    }
    let (code, _, err) =
        run(kubectl(&env, &["exec", "-t", "postgres-0", "-n", "shop-dev", "--", "true"])
            .stdin(Stdio::null()));
    assert_eq!(
        (code, err.as_str()),
        (0, "Unable to use a TTY - input is not a terminal or the right kind of file\n")
    );
}

#[test]
fn exec_fail_after_bytes_cuts_the_output_and_fails_like_pg_dump() {
    let env = cluster();
    env.ctl(&["workload", "shop-dev", "postgres", "--kind", "statefulset"]);
    env.set_knob("exec_path", "/usr/bin:/bin");
    env.set_knob("exec_fail_after_bytes", "1000");
    let (code, out, err) = run(&mut kubectl(
        &env,
        &["exec", "postgres-0", "-n", "shop-dev", "--", "head", "-c", "100000", "/dev/zero"],
    ));
    assert_eq!(code, 1);
    assert_eq!(out.len(), 1000);
    assert!(
        err.starts_with("head: error: ") && err.ends_with("command terminated with exit code 1\n"),
        "{err}"
    );
    // Shorter output passes through untouched.
    let (code, out, _) =
        run(&mut kubectl(&env, &["exec", "postgres-0", "-n", "shop-dev", "--", "echo", "short"]));
    assert_eq!((code, out.as_str()), (0, "short\n"));
}

#[test]
fn logs_of_pods_and_workloads() {
    let env = cluster();
    env.ctl(&[
        "workload",
        "shop-dev",
        "web",
        "--replicas",
        "2",
        "--log",
        "one",
        "--log",
        "two",
        "--log",
        "three",
    ]);
    env.ctl(&[
        "workload",
        "shop-dev",
        "db",
        "--kind",
        "statefulset",
        "--container",
        "postgres",
        "--container",
        "exporter",
    ]);
    env.ctl(&["workload", "shop-dev", "worker", "--phase", "Pending"]);

    let (code, out, err) =
        run(&mut kubectl(&env, &["logs", "deployment/web", "-n", "shop-dev", "--tail", "2"]));
    assert_eq!((code, out.as_str()), (0, "two\nthree\n"));
    assert!(err.starts_with("Found 2 pods, using pod/web-"), "{err}");
    let ps = pods(&env);
    let web0 = pod(&ps, "web-")["metadata"]["name"].as_str().unwrap().to_string();
    let out = ok(&env, &["logs", &web0, "-n", "shop-dev", "--prefix"]);
    assert_eq!(
        out,
        format!("[pod/{web0}/web] one\n[pod/{web0}/web] two\n[pod/{web0}/web] three\n")
    );

    env.ctl(&["log", "shop-dev", "db-0", "-c", "exporter", "scraped"]);
    let (code, out, err) = run(&mut kubectl(&env, &["logs", "sts/db", "-n", "shop-dev"]));
    assert_eq!((code, out.as_str()), (0, "starting db\ndb is ready\n"));
    assert_eq!(err, "Defaulted container \"postgres\" out of: postgres, exporter\n");
    let out =
        ok(&env, &["logs", "statefulset/db", "-n", "shop-dev", "--all-containers", "--prefix"]);
    assert_eq!(
        out,
        "[pod/db-0/postgres] starting db\n[pod/db-0/postgres] db is ready\n[pod/db-0/exporter] starting db\n[pod/db-0/exporter] db is ready\n[pod/db-0/exporter] scraped\n"
    );
    assert_eq!(
        ok(
            &env,
            &["logs", "db-0", "-n", "shop-dev", "-c", "exporter", "--since", "1h", "--tail", "1"]
        ),
        "scraped\n"
    );

    let (code, _, err) = run(&mut kubectl(&env, &["logs", "nope", "-n", "shop-dev"]));
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "error: error from server (NotFound): pods \"nope\" not found in namespace \"shop-dev\"\n"
        )
    );
    let (code, _, err) = run(&mut kubectl(&env, &["logs", "deployment/nope", "-n", "shop-dev"]));
    assert_eq!(
        (code, err.as_str()),
        (1, "Error from server (NotFound): deployments.apps \"nope\" not found\n")
    );
    let (code, _, err) = run(&mut kubectl(&env, &["logs", "deploy/worker", "-n", "shop-dev"]));
    assert_eq!(code, 1);
    assert!(err.contains("does not have a host assigned"), "{err}");

    // -f follows new lines until the pod goes away.
    let mut f = kubectl(&env, &["logs", "-f", "db-0", "-n", "shop-dev", "-c", "exporter"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(f.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "starting db");
    env.ctl(&["log", "shop-dev", "db-0", "-c", "exporter", "later"]);
    let rest: Vec<String> = lines.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(rest, ["db is ready", "scraped", "later"]);
    // Replacing the StatefulSet replaces db-0 (same name, new pod): the stream ends.
    env.ctl(&["workload", "shop-dev", "db", "--kind", "statefulset"]);
    assert!(f.wait().unwrap().success());
    assert_eq!(lines.count(), 0);
}

#[test]
fn rollout_restart_and_status() {
    let env = cluster();
    env.ctl(&["workload", "shop-dev", "web"]);
    env.ctl(&["workload", "shop-dev", "postgres", "--kind", "statefulset"]);
    env.ctl(&["workload", "shop-dev", "api", "--crash"]);
    let before = pod(&pods(&env), "web-")["metadata"]["name"].as_str().unwrap().to_string();
    let pg_uid = pod(&pods(&env), "postgres-0")["metadata"]["uid"].as_str().unwrap().to_string();

    let out = ok(
        &env,
        &["rollout", "restart", "deployment/web", "statefulset/postgres", "-n", "shop-dev"],
    );
    assert_eq!(out, "deployment.apps/web restarted\nstatefulset.apps/postgres restarted\n");
    // Within the same second (kubectl stamps whole seconds) the patch is empty: exit 1 and the
    // stamp stays; in a later second the restart goes through with a new stamp. Both outcomes are
    // checked, and the same-second one must show within a few immediate retries.
    let stamp = |env: &Env| {
        json(env, &["get", "deployment/web", "-n", "shop-dev", "-o", "json"])["spec"]["template"]
            ["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .as_str()
            .expect("restartedAt")
            .to_owned()
    };
    let mut same_second = false;
    for _ in 0..5 {
        let stamped = stamp(&env);
        let (code, _, err) =
            run(&mut kubectl(&env, &["rollout", "restart", "deployment/web", "-n", "shop-dev"]));
        match code {
            1 => {
                assert_eq!(
                    err,
                    "error: failed to create patch for web: if restart has already been triggered within the past second, please wait before attempting to trigger another\n"
                );
                assert_eq!(stamp(&env), stamped, "nothing patched");
                same_second = true;
                break;
            }
            0 => assert_ne!(stamp(&env), stamped, "a later second: a new stamp"),
            _ => panic!("rollout restart exited {code}: {err}"),
        }
    }
    assert!(same_second, "an immediate second restart never fell in the same second");
    let ps = pods(&env);
    let after = pod(&ps, "web-")["metadata"]["name"].as_str().unwrap().to_string();
    assert_ne!(before, after, "new ReplicaSet, new pod");
    assert_ne!(pod(&ps, "postgres-0")["metadata"]["uid"].as_str().unwrap(), pg_uid);
    let d = json(&env, &["get", "deployment/web", "-n", "shop-dev", "-o", "json"]);
    assert!(
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
            .is_string()
    );

    let out =
        ok(&env, &["rollout", "status", "deployment/web", "-n", "shop-dev", "--timeout", "5s"]);
    let last = out.lines().last().unwrap();
    assert_eq!(last, "deployment \"web\" successfully rolled out", "{out}");
    let out = ok(&env, &["rollout", "status", "statefulset/postgres", "-n", "shop-dev"]);
    assert_eq!(
        out,
        "Waiting for 1 pods to be ready...\npartitioned roll out complete: 1 new pods have been updated...\n"
    );
    let out = ok(&env, &["rollout", "status", "sts/postgres", "-n", "shop-dev"]);
    assert_eq!(
        out, "partitioned roll out complete: 1 new pods have been updated...\n",
        "once settled"
    );

    let (code, out, err) = run(&mut kubectl(
        &env,
        &["rollout", "status", "deployment/api", "-n", "shop-dev", "--timeout", "300ms"],
    ));
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "Waiting for deployment \"api\" rollout to finish: 0 of 1 updated replicas are available...\n"
    );
    assert_eq!(err, "error: timed out waiting for the condition\n");

    let (code, _, err) =
        run(&mut kubectl(&env, &["rollout", "restart", "deployment/nope", "-n", "shop-dev"]));
    assert_eq!(
        (code, err.as_str()),
        (1, "Error from server (NotFound): deployments.apps \"nope\" not found\n")
    );
    let (code, _, err) =
        run(&mut kubectl(&env, &["rollout", "status", "statefulset/nope", "-n", "shop-dev"]));
    assert_eq!(
        (code, err.as_str()),
        (1, "Error from server (NotFound): statefulsets.apps \"nope\" not found\n")
    );
}

/// Knobs `exec_cut_stdout` / `exec_cut_stdin`: the stream ends at N bytes or N % and kubectl
/// exits 0 whatever the remote command did (its stderr still arrives); a cut point past the end
/// changes nothing. Knob `exec_mbps` limits the throughput (both directions).
#[test]
fn exec_cuts_streams_with_exit_0_and_limits_throughput() {
    let env = cluster();
    env.ctl(&["workload", "shop-dev", "postgres", "--kind", "statefulset"]);
    env.set_knob("exec_path", "/usr/bin:/bin");
    let dump = [
        "exec",
        "postgres-0",
        "-n",
        "shop-dev",
        "--",
        "sh",
        "-c",
        "head -c 10000 /dev/zero; echo done >&2; exit 3",
    ];
    for (cut, want) in [("1234", 1234), ("25%", 2500), ("0", 0), ("100%", 10000)] {
        env.set_knob("exec_cut_stdout", cut);
        let (code, out, err) = run(&mut kubectl(&env, &dump));
        assert_eq!(out.len(), want, "cut {cut}");
        assert!(err.starts_with("done\n"), "the remote ran to its end: {err}");
        if want < 10000 {
            assert_eq!((code, err.as_str()), (0, "done\n"), "cut {cut}: exit 0");
        } else {
            assert_eq!(code, 3, "nothing cut: the remote's exit code");
        }
    }
    env.set_knob("exec_cut_stdout", "");

    // stdin: the remote sees the end of its input at the cut.
    let count = ["exec", "-i", "postgres-0", "-n", "shop-dev", "--", "sh", "-c", "wc -c; exit 4"];
    for (cut, want, code_want) in
        [("100", "100\n", 0), ("50%", "5000\n", 0), ("20000", "10000\n", 4)]
    {
        env.set_knob("exec_cut_stdin", cut);
        let mut child =
            kubectl(&env, &count).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&[7u8; 10000]).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim_start(), want, "cut {cut}");
        assert_eq!(out.status.code(), Some(code_want), "cut {cut}");
    }
    env.set_knob("exec_cut_stdin", "");

    // 2 MB at 10 MB/s takes at least 0.2 s (and the bytes all arrive).
    env.set_knob("exec_mbps", "10");
    let started = std::time::Instant::now();
    let (code, out, _) = run(&mut kubectl(
        &env,
        &["exec", "postgres-0", "-n", "shop-dev", "--", "head", "-c", "2000000", "/dev/zero"],
    ));
    assert_eq!((code, out.len()), (0, 2_000_000));
    assert!(started.elapsed() >= std::time::Duration::from_millis(190), "{:?}", started.elapsed());
}
