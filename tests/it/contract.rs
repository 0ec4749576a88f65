//! Contract tests: the fakes next to the REAL tools, on the calls that need no Kubernetes API
//! server and no kind. Same arguments, same kubeconfig; stdout, stderr and exit code must match
//! after the normalisation each case names (klog timestamps and pids, the client build).
//!
//! - kubectl: runs when a real kubectl is found (`KILTER_REAL_KUBECTL`, else `kubectl` on the test
//!   process's PATH); otherwise the test reports itself skipped (`support::skipped`: a failure
//!   under `CI=true`, as is a missing kubectl under `KILTER_REQUIRE_REAL_TOOLS=1`). A real kubectl
//!   of another minor than the fake's compares exit codes only and reports the output
//!   comparison as skipped.
//! - docker: in the real-Docker tier (`KILTER_REAL_DOCKER=1`), the fake docker's own answers
//!   (fake backend) next to the real engine's, for the containers kilter asks about that do not
//!   exist.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::Env;

fn real_kubectl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KILTER_REAL_KUBECTL") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.is_file())
}

/// A kubeconfig in kind's layout for `kind-kilter-contract`, whose server port refuses.
fn kubeconfig(dir: &Path, port: u16) -> PathBuf {
    // A CA file rather than inline data: kubectl only parses it (the port refuses before TLS).
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kubectl/contract-ca.pem");
    let text = format!(
        "apiVersion: v1
clusters:
- cluster:
    certificate-authority: {ca}
    server: https://127.0.0.1:{port}
  name: kind-kilter-contract
contexts:
- context:
    cluster: kind-kilter-contract
    user: kind-kilter-contract
  name: kind-kilter-contract
current-context: kind-kilter-contract
kind: Config
preferences: {{}}
users:
- name: kind-kilter-contract
  user:
    token: contract
"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

/// A docker client of version `pinned` on the test process's PATH (`KILTER_CONTRACT_DOCKER`
/// first), if there is one.
fn real_docker_client(pinned: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("KILTER_CONTRACT_DOCKER")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).map(|d| d.join("docker")).collect::<Vec<_>>())
                .unwrap_or_default(),
        )
        .collect();
    candidates.into_iter().filter(|p| p.is_file()).find(|p| {
        Command::new(p).arg("--version").output().is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout).starts_with(&format!("Docker version {pinned},"))
        })
    })
}

/// A loopback port nothing listens on (see [`crate::support::quiet_ports`]).
fn closed_port() -> u16 {
    crate::support::quiet_ports(1)
}

/// klog lines carry the time and the pid: `E1123 23:15:22.065100   11766 memcache.go:265] …`.
fn normalise_klog(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| {
            let b = l.as_bytes();
            let klog = b.len() > 30
                && matches!(b[0], b'E' | b'W' | b'I')
                && b[1..5].iter().all(u8::is_ascii_digit)
                && b[5] == b' ';
            match l.split_once("] ") {
                Some((head, rest)) if klog => {
                    let file = head.rsplit(' ').next().unwrap_or_default();
                    format!("{}<mmdd time pid> {file}] {rest}", &l[..1])
                }
                _ => l.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The client build differs (real: whatever is installed; fake: v1.32.2): compare the keys.
fn normalise_version_json(stdout: &str) -> String {
    if stdout.trim().is_empty() {
        return String::new();
    }
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let keys = |v: &Value| -> Vec<String> {
        v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
    };
    format!(
        "top {:?} client {:?} kustomize {}",
        keys(&v),
        keys(&v["clientVersion"]),
        v["kustomizeVersion"].is_string()
    )
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command) -> Run {
    let out: Output = cmd.stdin(Stdio::null()).output().expect("runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `run` with stdin from a file.
fn run_with(mut cmd: Command, stdin: &Path) -> Run {
    let out: Output =
        cmd.stdin(std::fs::File::open(stdin).expect("stdin file")).output().expect("runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn fake_kubectl_answers_like_the_real_kubectl_without_a_server() {
    const TEST: &str = "contract::fake_kubectl_answers_like_the_real_kubectl_without_a_server";
    let Some(real) = real_kubectl() else {
        let required = crate::support::truthy("KILTER_REQUIRE_REAL_TOOLS");
        assert!(!required, "KILTER_REQUIRE_REAL_TOOLS=1 but no real kubectl was found");
        crate::support::skipped(
            TEST,
            "no real kubectl (set KILTER_REAL_KUBECTL or put kubectl on PATH)",
        );
        return;
    };
    let env = Env::new();
    // kubectl's messages change between minors; the fake pins one (knob `kubectl_version`).
    // With another minor installed, only exit codes are compared, and the comparison of stdout
    // and stderr is reported as skipped.
    let minor_of = |json: &str| -> Option<String> {
        let v: Value = serde_json::from_str(json).ok()?;
        Some(v["clientVersion"]["minor"].as_str()?.trim_end_matches('+').to_owned())
    };
    let real_minor = minor_of(
        &run({
            let mut c = Command::new(&real);
            c.args(["version", "--client", "-o", "json"]).env_clear().env("HOME", env.home());
            c
        })
        .stdout,
    );
    let fake_minor = minor_of(
        &run({
            let mut c = env.tool("kubectl");
            c.args(["version", "--client", "-o", "json"]);
            c
        })
        .stdout,
    );
    let same_minor = real_minor.is_some() && real_minor == fake_minor;
    if !same_minor {
        crate::support::skipped(
            &format!("{TEST}: the stdout and stderr comparison"),
            &format!(
                "real kubectl 1.{} is not the fake's 1.{} (knob kubectl_version); exit codes only",
                real_minor.as_deref().unwrap_or("?"),
                fake_minor.as_deref().unwrap_or("?")
            ),
        );
    }
    let kc = kubeconfig(env.root(), closed_port());
    let missing = env.root().join("no-such-kubeconfig");
    let ctx = "kind-kilter-contract";
    // (args, KUBECONFIG, stdout is version JSON)
    let mut cases: Vec<(Vec<&str>, &Path, bool)> = vec![
        // the health wait of `up`
        (vec!["--context", ctx, "get", "--raw", "/readyz"], &kc, false),
        // `status` with the API down
        (vec!["--context", ctx, "get", "pods", "-n", "contract-dev", "-o", "json"], &kc, false),
        // `up`'s node + namespace probe
        (vec!["--context", ctx, "get", "nodes,namespaces", "-o", "json"], &kc, false),
        // `doctor`
        (vec!["--context", ctx, "version", "-o", "json"], &kc, true),
        (vec!["version", "--client", "-o", "json"], &kc, true),
        (vec!["--context", ctx, "create", "namespace", "contract-dev"], &kc, false),
        // `logs`, `exec`, `restart` and the snapshot's exec
        (
            vec![
                "--context",
                ctx,
                "get",
                "deployments,statefulsets",
                "-n",
                "contract-dev",
                "-o",
                "json",
            ],
            &kc,
            false,
        ),
        (
            vec![
                "--context",
                ctx,
                "logs",
                "deployment/api",
                "-n",
                "contract-dev",
                "--all-containers",
            ],
            &kc,
            false,
        ),
        (
            vec!["--context", ctx, "exec", "-i", "pod/db-0", "-n", "contract-dev", "--", "true"],
            &kc,
            false,
        ),
        (
            vec!["--context", ctx, "rollout", "restart", "deployment/api", "-n", "contract-dev"],
            &kc,
            false,
        ),
        (
            vec![
                "--context",
                ctx,
                "rollout",
                "restart",
                "deployment,statefulset",
                "-n",
                "contract-dev",
            ],
            &kc,
            false,
        ),
        (
            vec![
                "--context",
                ctx,
                "rollout",
                "status",
                "statefulset/db",
                "-n",
                "contract-dev",
                "--timeout",
                "5s",
            ],
            &kc,
            false,
        ),
    ];
    // the services of kilter.yaml: delete by label, the readiness probe
    cases.push((
        vec![
            "--context",
            ctx,
            "delete",
            "statefulsets,deployments,services",
            "-n",
            "contract-dev",
            "-l",
            "app.kubernetes.io/managed-by=kilter,app.kubernetes.io/name notin (postgres,redis)",
        ],
        &kc,
        false,
    ));
    cases.push((
        vec![
            "--context",
            ctx,
            "get",
            "statefulsets,deployments,pods",
            "-n",
            "contract-dev",
            "-l",
            "app.kubernetes.io/managed-by=kilter",
            "-o",
            "json",
        ],
        &kc,
        false,
    ));
    // a kubeconfig that lost the context, and one that is gone: kubectl words it per command
    for kubeconfig in [&kc, &missing] {
        let other = if kubeconfig == &kc { "kind-kilter-other" } else { ctx };
        for tail in [
            &["get", "--raw", "/readyz"][..],
            &["version", "-o", "json"],
            &["create", "namespace", "contract-dev"],
            &["get", "pods", "-n", "contract-dev", "-o", "json"],
            &["get", "pods", "-o", "json"],
            &["get", "nodes,namespaces", "-o", "json"],
            &["rollout", "restart", "deployment/api"],
            &["logs", "deployment/api", "-n", "contract-dev"],
            &["exec", "-i", "pod/db-0", "-n", "contract-dev", "--", "true"],
            &[
                "delete",
                "services",
                "-n",
                "contract-dev",
                "-l",
                "app.kubernetes.io/managed-by=kilter",
            ],
        ] {
            let mut args = vec!["--context", other];
            args.extend_from_slice(tail);
            cases.push((args, kubeconfig, tail[0] == "version"));
        }
    }
    // `up`'s server-side apply of the services, with the manifests on stdin (and with none).
    let manifest = env.root().join("services.yaml");
    std::fs::write(
        &manifest,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: redis\n  namespace: contract-dev\nspec:\n  ports:\n    - port: 6379\n  type: NodePort\n",
    )
    .unwrap();
    let empty = env.root().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let apply = |context| {
        vec!["--context", context, "apply", "--server-side", "--field-manager=kilter", "-f", "-"]
    };
    let mut stdins: Vec<Option<&Path>> = vec![None; cases.len()];
    for (context, kubeconfig, input) in [
        (ctx, &kc, &manifest),
        (ctx, &kc, &empty),
        ("kind-kilter-other", &kc, &manifest),
        ("kind-kilter-other", &kc, &empty),
        (ctx, &missing, &manifest),
    ] {
        cases.push((apply(context), kubeconfig.as_path(), false));
        stdins.push(Some(input.as_path()));
    }
    let mut diffs = Vec::new();
    for ((args, kubeconfig, version_json), stdin) in cases.iter().zip(&stdins) {
        let mut r = Command::new(&real);
        r.args(args)
            .env_clear()
            .env("HOME", env.home())
            .env("PATH", "/usr/bin:/bin")
            .env("KUBECONFIG", kubeconfig);
        let mut f = env.tool("kubectl");
        f.args(args).env("KUBECONFIG", kubeconfig);
        let (real_run, fake_run) = match stdin {
            None => (run(r), run(f)),
            Some(p) => (run_with(r, p), run_with(f, p)),
        };
        let norm_out =
            |s: &str| if *version_json { normalise_version_json(s) } else { s.to_owned() };
        let pairs = [
            ("exit", format!("{:?}", real_run.code), format!("{:?}", fake_run.code)),
            ("stdout", norm_out(&real_run.stdout), norm_out(&fake_run.stdout)),
            ("stderr", normalise_klog(&real_run.stderr), normalise_klog(&fake_run.stderr)),
        ];
        for (what, want, got) in pairs {
            if want != got && (same_minor || what == "exit") {
                diffs.push(format!(
                    "kubectl {}: {what} differs\n  real: {want:?}\n  fake: {got:?}",
                    args.join(" ")
                ));
            }
        }
    }
    assert!(diffs.is_empty(), "the fake kubectl drifted from the real one:\n{}", diffs.join("\n"));
}

/// The fake docker (its own fake backend) next to the real engine, on what kilter asks about a
/// node that does not exist, and on the shape of a kind node container's `ps`/`inspect` JSON.
/// Part of the real-Docker tier (the name carries `real_docker` for its filter).
#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_docker_and_the_fake_docker_agree() {
    let Some(real_env) = Env::real_docker() else { return };
    let fake_env = Env::new();
    // Messages differ between docker clients (docs/real-tools.md); the fake pins one. Compare
    // stderr only with a client of that version; any client for the rest.
    let pinned = fake_env.ctl(&["knobs"]);
    let pinned = pinned
        .lines()
        .find_map(|l| l.strip_prefix("docker_version="))
        .expect("docker_version knob")
        .to_owned();
    let client = real_docker_client(&pinned).unwrap_or_else(|| real_env.real().bin.clone());
    let client_version = run({
        let mut c = Command::new(&client);
        c.arg("--version");
        c
    })
    .stdout;
    let same_version = client_version.starts_with(&format!("Docker version {pinned},"));
    if !same_version {
        crate::support::skipped(
            "contract::real_docker_and_the_fake_docker_agree: the stderr comparison",
            &format!(
                "no docker {pinned} client found ({} is {}); exit codes and stdout only",
                client.display(),
                client_version.trim()
            ),
        );
    }
    let real_docker = |args: &[&str]| {
        let mut c = Command::new(&client);
        c.args(args)
            .env_clear()
            .env("HOME", real_env.home())
            .env("DOCKER_CONFIG", real_env.home().join(".docker"))
            .env("PATH", "/usr/bin:/bin");
        run(c)
    };
    let missing = real_env.unique_name("gone");
    let node = format!("kilter-{missing}-control-plane");
    let label = format!("label=io.x-k8s.kind.cluster=kilter-{missing}");
    let name_filter = format!("name=^{node}$");
    let cases: Vec<Vec<&str>> = vec![
        vec!["inspect", "--type", "container", &node],
        vec!["inspect", &node],
        vec!["start", &node],
        vec!["stop", &node],
        vec!["rm", "-f", "-v", &node],
        vec!["rm", &node],
        vec!["ps", "-a", "--filter", &label, "--format", "{{json .}}"],
        vec![
            "ps",
            "-a",
            "--filter",
            "label=io.x-k8s.kind.cluster",
            "--filter",
            &name_filter,
            "--format",
            "{{.Names}}",
        ],
    ];
    let mut diffs = Vec::new();
    for args in &cases {
        let real_run = real_docker(args);
        let fake_run = run({
            let mut c = fake_env.docker();
            c.args(args);
            c
        });
        for (what, want, got) in [
            ("exit", format!("{:?}", real_run.code), format!("{:?}", fake_run.code)),
            ("stdout", real_run.stdout, fake_run.stdout),
            ("stderr", real_run.stderr, fake_run.stderr),
        ] {
            if want != got && (same_version || what != "stderr") {
                diffs.push(format!(
                    "docker {}: {what}\n  real: {want:?}\n  fake: {got:?}",
                    args.join(" ")
                ));
            }
        }
    }

    // A running node made by `kilter up` in each world: the JSON kilter parses has the same shape.
    let shape = |env: &Env,
                 name: &str,
                 docker: &dyn Fn(&[&str]) -> String|
     -> (Vec<String>, Vec<String>) {
        let dir = crate::helpers::project(env, name, Some(&format!("name: {name}\n")), false);
        let up = env.kilter(&dir).args(["up", "--no-tilt"]).output().expect("runs");
        assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
        let node = format!("kilter-{name}-control-plane");
        let ps = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=io.x-k8s.kind.cluster=kilter-{name}"),
            "--format",
            "{{json .}}",
        ]);
        let ps: Value = serde_json::from_str(ps.lines().next().expect("one line")).expect("json");
        let inspect = docker(&["inspect", "--type", "container", &node]);
        let inspect: Value = serde_json::from_str(&inspect).expect("json");
        let c = &inspect[0];
        let mut paths = Vec::new();
        for (path, v) in [
            ("", c),
            ("State", &c["State"]),
            ("Config", &c["Config"]),
            ("HostConfig.RestartPolicy", &c["HostConfig"]["RestartPolicy"]),
            ("NetworkSettings.Ports[6443/tcp][0]", &c["NetworkSettings"]["Ports"]["6443/tcp"][0]),
            (
                "HostConfig.PortBindings[6443/tcp][0]",
                &c["HostConfig"]["PortBindings"]["6443/tcp"][0],
            ),
        ] {
            let keys = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_else(Vec::new);
            assert!(!keys.is_empty(), "{path} is missing in {c}");
            paths.extend(keys.into_iter().map(|k| format!("{path}.{k}")));
        }
        paths.push(format!("RestartPolicy={}", c["HostConfig"]["RestartPolicy"]));
        paths.push(format!("State.Status={}", c["State"]["Status"]));
        let ps_keys = ps.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        (ps_keys, paths)
    };
    let ok = |r: Run| {
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        r.stdout
    };
    let (real_ps, real_inspect) =
        shape(&real_env, &real_env.unique_name("shape"), &|a| ok(real_docker(a)));
    let (fake_ps, fake_inspect) = shape(&fake_env, "shape", &|a| fake_env.docker_ok(a));
    if real_ps != fake_ps && same_version {
        diffs.push(format!("ps --format json keys\n  real: {real_ps:?}\n  fake: {fake_ps:?}"));
    }
    // The fake may carry fewer inspect fields than the engine, but every field it has must be
    // one the engine has (but `Config.StopSignal`, which kind's node image sets and the busybox
    // test image does not), and every field kilter reads must be there.
    let extra: Vec<_> = fake_inspect
        .iter()
        .filter(|k| !real_inspect.contains(k) && *k != "Config.StopSignal")
        .collect();
    if !extra.is_empty() {
        diffs.push(format!("inspect fields the real engine does not have: {extra:?}"));
    }
    for needed in [
        ".Id",
        ".Name",
        ".Created",
        "State.Status",
        "State.Running",
        "State.ExitCode",
        "State.StartedAt",
        "State.FinishedAt",
        "Config.Labels",
        "Config.Image",
        "NetworkSettings.Ports[6443/tcp][0].HostIp",
        "NetworkSettings.Ports[6443/tcp][0].HostPort",
        "HostConfig.RestartPolicy.Name",
    ] {
        if !fake_inspect.iter().any(|k| k == needed) {
            diffs.push(format!("the fake's inspect lacks {needed}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "the fake docker drifted from the real engine:\n{}",
        diffs.join("\n")
    );
}

/// `docker run --sysctl` (the router's `net.ipv4.tcp_migrate_req=1`) on the real engine and the
/// fake: a sysctl the kernel has is `HostConfig.Sysctls`; one it lacks (the fake's knob
/// `kernel_lacks`; on the engine a name no kernel has) creates the container, prints its Id and
/// fails to start it with exit 127, runc's `open /proc/sys/…` in the error, the container left
/// `created` with that exit code: what kilter's fallback for an older kernel reads.
#[test]
#[ignore = "real-Docker tier: KILTER_REAL_DOCKER=1 and --include-ignored"]
fn real_docker_and_the_fake_docker_agree_on_sysctls() {
    let image = "kilter-test-router:latest";
    let Some(real_env) = Env::real_docker_with_image(image, "scripts/build-router-image.sh") else {
        return;
    };
    let fake_env = Env::new();
    let absent = "net.ipv4.tcp_kilter_contract_absent";
    fake_env.set_knob("kernel_lacks", absent);
    let names = [real_env.unique_name("sysctl-on"), real_env.unique_name("sysctl-off")];
    struct Gone<'a>(&'a Env, &'a [String; 2]);
    impl Drop for Gone<'_> {
        fn drop(&mut self) {
            let _ = self.0.docker().args(["rm", "-f"]).args(self.1.iter()).output();
        }
    }
    let _gone = Gone(&real_env, &names);
    let conf = real_env.home().join("caddy");
    std::fs::create_dir_all(&conf).unwrap();
    // What kilter can observe of one `docker run`: exit code, whether stdout is one container
    // Id, the error's runc part, and the container's state, exit code and sysctls afterwards.
    let observe = |env: &Env, name: &str, sysctl: &str| -> Vec<String> {
        let run = env
            .docker()
            .args(["run", "-d", "--name", name, "--sysctl", sysctl, "-v"])
            .arg(format!("{}:/etc/kilter-router:ro", conf.display()))
            .args([image, "caddy", "run", "--config", "/etc/kilter-router/caddy.json"])
            .output()
            .expect("docker run");
        let stdout = String::from_utf8_lossy(&run.stdout);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let id = stdout.trim();
        let inspect = env.docker().args(["inspect", name]).output().expect("inspect");
        let c: Value = serde_json::from_slice(&inspect.stdout).unwrap_or(Value::Null);
        let c = &c[0];
        let runc = stderr
            .split("error during container init: ")
            .nth(1)
            // docker 20.10's client ends the message with a full stop, 28's does not.
            .map(|r| r.lines().next().unwrap_or_default().trim_end_matches('.').to_owned())
            .unwrap_or_default();
        vec![
            format!("exit {:?}", run.status.code()),
            format!(
                "an Id on stdout: {}",
                id.len() == 64 && id.chars().all(|ch| ch.is_ascii_hexdigit())
            ),
            format!("runc: {runc}"),
            format!(
                "status {}",
                if run.status.success() {
                    "-"
                } else {
                    c["State"]["Status"].as_str().unwrap_or("?")
                }
            ),
            format!(
                "exit code {}",
                if run.status.success() { "-".into() } else { c["State"]["ExitCode"].to_string() }
            ),
            format!("sysctls {}", c["HostConfig"]["Sysctls"]),
        ]
    };
    let on = "net.ipv4.tcp_migrate_req=1".to_owned();
    let off = format!("{absent}=1");
    let real = [observe(&real_env, &names[0], &on), observe(&real_env, &names[1], &off)];
    let fake = [observe(&fake_env, "sysctl-on", &on), observe(&fake_env, "sysctl-off", &off)];
    assert_eq!(real, fake, "the fake docker drifted from the real engine on --sysctl");
    // And the cases are what they claim to be.
    assert_eq!(real[0][0], "exit Some(0)");
    assert_eq!(real[1][0], "exit Some(127)");
    assert!(real[1][2].contains("open /proc/sys/net/ipv4/tcp_kilter_contract_absent"), "{real:?}");
}
