//! Services from kilter.yaml: `up` applies them (server-side, field manager `kilter`), deletes
//! the ones kilter.yaml no longer lists, waits until they are ready; NodePorts from the project's
//! block; `kilter env` (text evaluated by real shells, `--json`, `--dotenv`); Tilt's environment;
//! `add`/`remove`; `catalog`; status, ls, logs, restart, exec by service name; a snapshot of a
//! `services: [postgres]` database; the rendered manifests against the Kubernetes schemas.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::*;
use crate::support::{Env, read, skipped};

const TWO: &str = "name: shop\nservices: [postgres, redis]\n";

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn ok(env: &Env, dir: &Path, args: &[&str]) -> std::process::Output {
    let out = env.kilter(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kilter {args:?} ({:?}):\n{}",
        out.status.code(),
        stderr_of(&out)
    );
    out
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The in-cluster objects of one type in `shop-dev` (the fake's store), by name.
fn objects(env: &Env, resource: &str) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for c in std::fs::read_dir(env.state_dir().join("clusters")).into_iter().flatten().flatten() {
        let f = c.path().join("ns/shop-dev").join(format!("{resource}.json"));
        if let Ok(text) = std::fs::read_to_string(&f) {
            let v: Value = serde_json::from_str(&text).unwrap();
            out.extend(v.as_object().cloned().unwrap_or_default());
        }
    }
    out
}

fn names(map: &serde_json::Map<String, Value>) -> Vec<String> {
    map.keys().cloned().collect()
}

fn registry(env: &Env) -> Value {
    serde_json::from_str(&read(env.state_home().join("kilter/ports.json"))).unwrap()
}

fn nodeport(env: &Env, service: &str, port: &str) -> u64 {
    registry(env)["projects"]["shop"]["services"][service][port]
        .as_u64()
        .unwrap_or_else(|| panic!("no NodePort for {service}/{port}: {}", registry(env)))
}

#[test]
fn up_applies_the_services_waits_until_they_are_ready_and_gives_tilt_their_variables() {
    let env = Env::new();
    env.set_knob("apply_ready_ms", "1200");
    let dir = project(&env, "shop", Some(TWO), true);
    let out = ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    let (_, base) = ports_of("shop");
    let calls = env.calls_of("kubectl");
    // (the services' apply; the registry's ConfigMap is applied from its file)
    let apply =
        calls.iter().position(|c| c.contains(" apply ") && c.ends_with(" -f -")).expect("an apply");
    assert_eq!(
        calls[apply],
        "kubectl --context kind-kilter-shop apply --server-side '--field-manager=kilter' -f -"
    );
    let ns = calls.iter().position(|c| c.contains("create namespace")).expect("namespace");
    assert!(ns < apply, "the namespace exists before the apply: {calls:#?}");
    let all = env.calls();
    let tilt = all.iter().position(|c| c.starts_with("tilt up")).expect("tilt");
    let wait =
        all.iter().rposition(|c| c.contains("get 'statefulsets,deployments,pods'")).expect("wait");
    assert!(wait < tilt, "Tilt starts after the services are ready: {all:#?}");
    // The wait showed each service.
    assert!(err.contains("Waiting for services postgres, redis to be ready"), "{err}");
    assert!(err.contains("  postgres ready (") && err.contains("  redis ready ("), "{err}");
    let summary = format!("127.0.0.1:{} → postgres.shop-dev.svc:5432", base + 19);
    assert!(err.contains(&summary), "{err}");

    // What is in the cluster: real-shaped objects with kilter's labels.
    assert_eq!(names(&objects(&env, "statefulsets")), ["postgres", "redis"]);
    assert_eq!(names(&objects(&env, "services")), ["postgres", "redis"]);
    let claims = objects(&env, "persistentvolumeclaims");
    assert_eq!(names(&claims), ["postgres-data", "redis-data"]);
    assert_eq!(claims["postgres-data"]["status"]["phase"], "Bound", "mounted by postgres-0");
    let svc = &objects(&env, "services")["postgres"];
    assert_eq!(svc["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kilter");
    assert_eq!(svc["metadata"]["labels"]["app.kubernetes.io/name"], "postgres");
    assert_eq!(svc["spec"]["type"], "NodePort");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"].as_u64(), Some(u64::from(base) + 19));
    let pods = objects(&env, "pods");
    assert_eq!(pods["postgres-0"]["status"]["phase"], "Running");

    // The manifests kilter applied stay in the cache dir, private (dev credentials).
    let manifest = env.cache_dir("shop").join("services.yaml");
    assert_eq!(mode(&manifest), 0o600);
    assert!(read(&manifest).contains("name: POSTGRES_PASSWORD"));

    // Tilt got the in-cluster values.
    let rec = env.tilt_records().pop().expect("a tilt");
    assert_eq!(
        rec["env"]["DATABASE_URL"],
        "postgres://postgres:postgres@postgres.shop-dev.svc:5432/shop"
    );
    assert_eq!(rec["env"]["REDIS_URL"], "redis://redis.shop-dev.svc:6379/0");

    // A second `up` applies again (idempotent) and finds them ready at once.
    let again = ok(&env, &dir, &["up", "--no-tilt"]);
    assert!(stderr_of(&again).contains("postgres ready"), "{}", stderr_of(&again));
    assert!(env.unexpected_calls().is_empty(), "{:?}", env.unexpected_calls());
}

#[test]
fn services_that_never_get_ready_end_up_with_exit_5_naming_them() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(TWO), false);
    ok(&env, &dir, &["up"]);
    env.set_knob("apply_ready_ms", "never");
    // A changed template rolls the pods: they never start.
    std::fs::write(
        dir.join("kilter.yaml"),
        "name: shop\nservices:\n  - name: postgres\n    image: postgres:16.4\n  - redis\n",
    )
    .unwrap();
    let started = Instant::now();
    let out = env.kilter(&dir).args(["up", "--timeout", "4s"]).output().unwrap();
    let took = started.elapsed();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 5, "{err}");
    assert!(err.contains("services not ready after"), "{err}");
    let line = err.lines().find(|l| l.starts_with("error: services not ready")).expect("the error");
    assert!(line.ends_with(": postgres (ContainerCreating)"), "only postgres is named: {err}");
    assert!(err.contains("  redis ready ("), "redis was shown when it got ready: {err}");
    assert!(took < Duration::from_secs(6), "--timeout 4s bounds up: {took:?}");
}

#[test]
fn removed_services_are_deleted_and_their_data_kept_until_prune_data() {
    let env = Env::new();
    let dir =
        project(&env, "shop", Some("name: shop\nservices: [postgres, redis, mailpit]\n"), false);
    ok(&env, &dir, &["up"]);
    let pg = nodeport(&env, "postgres", "postgres");
    assert_eq!(names(&objects(&env, "deployments")), ["mailpit"]);
    // A service without a volume leaves no data to speak of.
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [postgres, redis]\n").unwrap();
    let err = stderr_of(&ok(&env, &dir, &["up"]));
    assert!(err.contains("Removed service mailpit\n"), "{err}");
    assert!(!err.contains("is kept"), "{err}");
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [postgres]\n").unwrap();
    let out = ok(&env, &dir, &["up"]);
    let err = stderr_of(&out);
    let delete =
        env.calls_of("kubectl").into_iter().rfind(|c| c.contains(" delete ")).expect("a delete");
    assert_eq!(
        delete,
        "kubectl --context kind-kilter-shop delete 'statefulsets,deployments,services' -n shop-dev -l 'app.kubernetes.io/managed-by=kilter,app.kubernetes.io/name notin (postgres)'"
    );
    assert!(err.contains("Removed service redis\n"), "{err}");
    assert!(err.contains("the data of redis is kept in PersistentVolumeClaim redis-data"), "{err}");
    assert_eq!(names(&objects(&env, "statefulsets")), ["postgres"]);
    assert!(objects(&env, "deployments").is_empty());
    assert_eq!(names(&objects(&env, "services")), ["postgres"]);
    assert_eq!(names(&objects(&env, "persistentvolumeclaims")), ["postgres-data", "redis-data"]);
    let pods: Vec<String> = names(&objects(&env, "pods"));
    assert_eq!(pods, ["postgres-0"], "their pods went with them");
    // Their NodePorts are free again; postgres kept its own.
    assert_eq!(nodeport(&env, "postgres", "postgres"), pg);
    let recorded = registry(&env)["projects"]["shop"]["services"].clone();
    assert_eq!(recorded.as_object().map(|m| m.len()), Some(1), "{recorded}");

    ok(&env, &dir, &["up", "--prune-data"]);
    assert_eq!(names(&objects(&env, "persistentvolumeclaims")), ["postgres-data"]);
    // With no services left, up deletes the last one too, and keeps its data.
    std::fs::write(dir.join("kilter.yaml"), "name: shop\n").unwrap();
    let err = stderr_of(&ok(&env, &dir, &["up"]));
    assert!(err.contains("Removed service postgres\n"), "{err}");
    assert!(err.contains("the data of postgres is kept in PersistentVolumeClaim postgres-data"));
    assert!(objects(&env, "statefulsets").is_empty());
    assert_eq!(names(&objects(&env, "persistentvolumeclaims")), ["postgres-data"]);
    // No service listed now or before: --prune-data still deletes the data left over, and there
    // is no service to speak of.
    let err = stderr_of(&ok(&env, &dir, &["up", "--prune-data"]));
    assert!(!err.contains("Removed service") && !err.contains("is kept"), "{err}");
    assert!(objects(&env, "persistentvolumeclaims").is_empty());
    assert!(!env.cache_dir("shop").join("services.yaml").exists());
    // And then nothing is asked of kubectl about services any more.
    let mark = env.calls().len();
    ok(&env, &dir, &["up"]);
    let later = calls_since(&env, mark);
    assert!(!later.iter().any(|c| c.contains(" delete ") || c.contains(" apply ")), "{later:#?}");
}

#[test]
fn node_ports_never_move_when_services_are_added_removed_or_reordered() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(TWO), false);
    ok(&env, &dir, &["up"]);
    let (pg, redis) = (nodeport(&env, "postgres", "postgres"), nodeport(&env, "redis", "redis"));
    let (_, base) = ports_of("shop");
    assert_eq!((pg, redis), (u64::from(base) + 19, u64::from(base) + 18));
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [mailpit, redis, postgres]\n")
        .unwrap();
    ok(&env, &dir, &["up"]);
    assert_eq!(
        (nodeport(&env, "postgres", "postgres"), nodeport(&env, "redis", "redis")),
        (pg, redis)
    );
    let (smtp, http) = (nodeport(&env, "mailpit", "smtp"), nodeport(&env, "mailpit", "http"));
    assert_eq!((smtp, http), (u64::from(base) + 17, u64::from(base) + 16));
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [mailpit, postgres]\n").unwrap();
    ok(&env, &dir, &["up"]);
    assert_eq!(nodeport(&env, "postgres", "postgres"), pg);
    assert_eq!(
        (nodeport(&env, "mailpit", "smtp"), nodeport(&env, "mailpit", "http")),
        (smtp, http)
    );
    // The cluster's Services agree with the registry; destroy + up keeps them.
    ok(&env, &dir, &["destroy", "--yes", "--no-snapshot"]);
    ok(&env, &dir, &["up"]);
    let svc = &objects(&env, "services")["postgres"];
    assert_eq!(svc["spec"]["ports"][0]["nodePort"].as_u64(), Some(pg));
}

#[test]
fn more_ports_than_the_block_holds_is_exit_4_naming_the_services() {
    let env = Env::new();
    let mut yaml = String::from("name: shop\nservices:\n");
    for i in 0..11 {
        yaml.push_str(&format!("  - {{name: app{i}, image: busybox, port: 80}}\n"));
    }
    yaml.push_str("  - mailpit\n  - nats\n  - rabbitmq\n  - minio\n  - redis\n  - postgres\n");
    let dir = project(&env, "shop", Some(&yaml), false);
    let out = env.kilter(&dir).arg("up").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 4, "{err}");
    assert!(err.contains("the services need 21 NodePorts, but a project's block has 20"), "{err}");
    assert!(err.contains("app0 (1)") && err.contains("minio (2)"), "{err}");
    assert!(env.calls_of("kind").is_empty(), "nothing was created: {:?}", env.calls());
}

#[test]
fn an_unknown_catalog_name_is_exit_4_at_its_position_before_anything_changes() {
    let env = Env::new();
    let dir =
        project(&env, "shop", Some("name: shop\nservices:\n  - postgres\n  - reddis\n"), false);
    let out = env.kilter(&dir).arg("up").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 4, "{err}");
    assert!(
        err.contains("kilter.yaml:4:5: services[1]: `reddis` is not a catalog service"),
        "{err}"
    );
    assert!(err.contains("did you mean `redis`?"), "{err}");
    assert!(env.calls().is_empty(), "{:?}", env.calls());
    // `env` and `add` refuse it the same way.
    assert_eq!(code(&env.kilter(&dir).arg("env").output().unwrap()), 4);
    let out = env.kilter(&dir).args(["add", "postgress"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert!(stderr_of(&out).contains("did you mean `postgres`?"), "{}", stderr_of(&out));
}

// ---------------------------------------------------------------------------------------------
// kilter env

/// A project whose services provide values that need quoting.
const TRICKY: &str = "name: shop
services:
  - postgres
  - name: mailpit
    provides:
      MAIL_NOTE: it's \"quoted\" $HOME `x` \\ done
      MAIL_UI: http://mailpit.{{ .Namespace }}.svc:8025/
";

fn host_values(env: &Env, dir: &Path) -> serde_json::Map<String, Value> {
    let v = json(&ok(env, dir, &["env", "--json"]));
    assert_eq!(v["schema_version"], 1);
    v["env"].as_object().cloned().unwrap()
}

#[test]
fn env_text_is_evaluated_by_bash_and_zsh_to_the_json_values() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(TRICKY), false);
    ok(&env, &dir, &["up"]);
    let want = host_values(&env, &dir);
    let (_, base) = ports_of("shop");
    assert_eq!(
        want["DATABASE_URL"],
        format!("postgres://postgres:postgres@127.0.0.1:{}/shop", base + 19).as_str()
    );
    assert_eq!(want["MAIL_UI"], format!("http://127.0.0.1:{}/", base + 17).as_str());
    assert_eq!(want["MAIL_NOTE"], "it's \"quoted\" $HOME `x` \\ done");
    let text = stdout_of(&ok(&env, &dir, &["env"]));
    assert!(
        text.contains(&format!("# postgres: 127.0.0.1:{} (in the cluster postgres.shop-dev.svc:5432); database shop, password postgres, user postgres\n", base + 19)),
        "{text}"
    );
    // A service with more than one port names each.
    let mailpit = format!(
        "# mailpit: smtp 127.0.0.1:{} (in the cluster mailpit.shop-dev.svc:1025), http 127.0.0.1:{} (in the cluster mailpit.shop-dev.svc:8025)\n",
        base + 18,
        base + 17
    );
    assert!(text.contains(&mailpit), "{text}");
    let script = format!(
        "{text}\nfor k in {}; do printf '%s=%s\\n' \"$k\" \"$(printenv \"$k\")\"; done",
        want.keys().cloned().collect::<Vec<_>>().join(" ")
    );
    let expected: String =
        want.iter().map(|(k, v)| format!("{k}={}\n", v.as_str().unwrap())).collect();
    let mut ran = 0;
    for shell in ["/bin/bash", "/usr/bin/bash", "/bin/zsh", "/usr/bin/zsh"] {
        if !Path::new(shell).exists() {
            continue;
        }
        let out = std::process::Command::new(shell)
            .args(["-c", &format!("eval \"$(cat <<'KILTER_ENV'\n{script}\nKILTER_ENV\n)\"")])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
        assert_eq!(stdout_of(&out), expected, "{shell} evaluated `kilter env` differently");
        ran += 1;
    }
    assert!(ran >= 1, "no bash on this machine");
    if !Path::new("/bin/zsh").exists() && !Path::new("/usr/bin/zsh").exists() {
        skipped("evaluating `kilter env` with zsh", "zsh is not installed");
    }
}

/// A `.env` reader following docker compose / python-dotenv: `K=v`, `K='literal'`,
/// `K="escapes \n \" \\"`, comments and blank lines.
fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').expect("K=V");
        let v = if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
            inner.to_owned()
        } else if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            let mut s = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('r') => s.push('\r'),
                        Some(o) => s.push(o),
                        None => {}
                    }
                } else {
                    s.push(c);
                }
            }
            s
        } else {
            assert!(!v.contains([' ', '"', '\'', '$', '`', '\\']), "unquoted but unsafe: {line}");
            v.to_owned()
        };
        out.push((k.to_owned(), v));
    }
    out
}

#[test]
fn dotenv_has_the_host_values_and_reads_back_the_same() {
    let env = Env::new();
    // A note with a `'` and a `$` cannot be written literally for every reader (it is refused:
    // tests/it/dotenv.rs); without the `'` it is single-quoted.
    let yaml = TRICKY.replace("it's ", "its ");
    assert_ne!(yaml, TRICKY);
    let dir = project(&env, "shop", Some(&yaml), false);
    let want = host_values(&env, &dir);
    let text = stdout_of(&ok(&env, &dir, &["env", "--dotenv"]));
    let got = parse_dotenv(&text);
    let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["DATABASE_URL", "SMTP_URL", "MAIL_NOTE", "MAIL_UI"], "{text}");
    for (k, v) in &got {
        assert_eq!(want[k.as_str()], v.as_str(), "{k} in {text}");
    }
    assert!(!text.contains("KUBECONFIG"), "only the services' variables: {text}");
    // Values without a quote or a line break are also read literally by a POSIX shell.
    let simple: String =
        text.lines().filter(|l| !l.starts_with("MAIL_NOTE")).map(|l| format!("{l}\n")).collect();
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("set -a\n{simple}\nprintf '%s|%s' \"$DATABASE_URL\" \"$MAIL_UI\"")])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        format!("{}|{}", want["DATABASE_URL"].as_str().unwrap(), want["MAIL_UI"].as_str().unwrap())
    );
}

#[test]
fn env_json_describes_each_service() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres, mailpit]\n"), false);
    // Before the first `up` the NodePorts are previewed, and nothing is reserved.
    let v = json(&ok(&env, &dir, &["env", "--json"]));
    assert!(!env.state_home().join("kilter/ports.json").exists());
    let (_, base) = ports_of("shop");
    let pg = &v["services"][0];
    assert_eq!(pg["name"], "postgres");
    assert_eq!(pg["workload"], "statefulset/postgres");
    assert_eq!(pg["image"], "postgres:17.5");
    assert_eq!(pg["ports"][0]["host"], format!("127.0.0.1:{}", base + 19).as_str());
    assert_eq!(pg["ports"][0]["cluster"], "postgres.shop-dev.svc:5432");
    assert_eq!(
        pg["credentials"],
        serde_json::json!({"user": "postgres", "password": "postgres", "database": "shop"})
    );
    assert_eq!(pg["provides"][0]["name"], "DATABASE_URL");
    assert_eq!(
        pg["provides"][0]["cluster"],
        "postgres://postgres:postgres@postgres.shop-dev.svc:5432/shop"
    );
    let mail = &v["services"][1];
    assert_eq!(mail["ports"].as_array().map(Vec::len), Some(2));
    assert_eq!(mail["ports"][1]["name"], "http");
    assert_eq!(v["env"]["SMTP_URL"], format!("smtp://127.0.0.1:{}", base + 18).as_str());
    assert_eq!(v["env"]["KILTER_PROJECT"], "shop");
    ok(&env, &dir, &["up"]);
    let after = json(&ok(&env, &dir, &["env", "--json"]));
    assert_eq!(after["services"], v["services"], "up assigned what env previewed");
}

// ---------------------------------------------------------------------------------------------
// add / remove

const COMMENTED: &str = "# the shop
name: shop   # project

services:          # what runs beside the app
  # the database
  - postgres       # keep me
  - name: cache
    image: redis:7   # pinned
    port: 6379

database:
  user: postgres
";

#[test]
fn add_and_remove_change_only_their_lines() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(COMMENTED), false);
    ok(&env, &dir, &["add", "redis", "mailpit"]);
    let added = read(dir.join("kilter.yaml"));
    assert_eq!(
        added,
        COMMENTED.replace("    port: 6379\n", "    port: 6379\n  - redis\n  - mailpit\n")
    );
    ok(&env, &dir, &["remove", "cache"]);
    assert_eq!(
        read(dir.join("kilter.yaml")),
        added.replace("  - name: cache\n    image: redis:7   # pinned\n    port: 6379\n", "")
    );
    // Flow style stays flow style.
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [postgres]   # flow\n").unwrap();
    ok(&env, &dir, &["add", "redis"]);
    assert_eq!(read(dir.join("kilter.yaml")), "name: shop\nservices: [postgres, redis]   # flow\n");
    ok(&env, &dir, &["remove", "postgres"]);
    assert_eq!(read(dir.join("kilter.yaml")), "name: shop\nservices: [redis]   # flow\n");
    // No `services:` yet: the key is created at the end; no kilter.yaml: one is created.
    std::fs::write(dir.join("kilter.yaml"), "# only a comment\nname: shop\n").unwrap();
    ok(&env, &dir, &["add", "postgres"]);
    assert_eq!(
        read(dir.join("kilter.yaml")),
        "# only a comment\nname: shop\nservices:\n  - postgres\n"
    );
    let bare = project(&env, "bare", None, false);
    // `remove` with no kilter.yaml: nothing is listed, so it is a mistake (exit 4), no file made.
    let out = env.kilter(&bare).args(["remove", "nats"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("(it lists no services)"), "{}", stderr_of(&out));
    assert!(!bare.join("kilter.yaml").exists());
    ok(&env, &bare, &["add", "nats"]);
    assert_eq!(read(bare.join("kilter.yaml")), "services:\n  - nats\n");
    // Mistakes change nothing.
    let before = read(dir.join("kilter.yaml"));
    let out = env.kilter(&dir).args(["remove", "postgress"]).output().unwrap();
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("did you mean `postgres`?"), "{}", stderr_of(&out));
    let out = env.kilter(&dir).args(["add", "kafka"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert_eq!(read(dir.join("kilter.yaml")), before);
    // Adding what is there already says so and changes nothing.
    let out = ok(&env, &dir, &["add", "postgres"]);
    assert!(
        stderr_of(&out).contains("`postgres` is already under `services:`"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(read(dir.join("kilter.yaml")), before);
    // Nothing ran: no cluster.
    assert!(env.calls_of("kubectl").is_empty(), "{:?}", env.calls());
}

#[test]
fn add_and_remove_act_at_once_on_a_running_cluster() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), true);
    ok(&env, &dir, &["up"]);
    let out = ok(&env, &dir, &["add", "postgres"]);
    let err = stderr_of(&out);
    assert!(err.contains("Added postgres to `services:`"), "{err}");
    assert!(err.contains("postgres ready"), "{err}");
    assert!(err.contains("`kilter up` restarts it with their variables"), "{err}");
    assert_eq!(names(&objects(&env, "statefulsets")), ["postgres"]);
    let pg = nodeport(&env, "postgres", "postgres");
    let status = json(&ok(&env, &dir, &["status", "--json"]));
    assert_eq!(status["services"][0]["name"], "postgres");
    assert_eq!(status["services"][0]["ready"], true);
    ok(&env, &dir, &["add", "redis"]);
    assert_eq!(nodeport(&env, "postgres", "postgres"), pg, "adding moved nobody");
    let out = ok(&env, &dir, &["remove", "postgres"]);
    let err = stderr_of(&out);
    assert!(err.contains("Removed service postgres"), "{err}");
    assert!(err.contains("PersistentVolumeClaim postgres-data"), "{err}");
    assert_eq!(names(&objects(&env, "statefulsets")), ["redis"]);
    assert_eq!(names(&objects(&env, "persistentvolumeclaims")), ["postgres-data", "redis-data"]);
    assert!(registry(&env)["projects"]["shop"]["services"]["postgres"].is_null());
    assert!(!read(env.cache_dir("shop").join("services.yaml")).contains("name: postgres\n"));
    ok(&env, &dir, &["remove", "redis", "--prune-data"]);
    assert!(objects(&env, "statefulsets").is_empty());
    assert_eq!(names(&objects(&env, "persistentvolumeclaims")), ["postgres-data"]);
    assert!(env.unexpected_calls().is_empty(), "{:?}", env.unexpected_calls());
}

// ---------------------------------------------------------------------------------------------
// catalog, status, ls, logs, restart, exec

#[test]
fn catalog_lists_and_shows_every_service() {
    let env = Env::new();
    let dir = env.project("anywhere");
    let text = stdout_of(&ok(&env, &dir, &["catalog"]));
    for name in ["postgres", "redis", "mailpit", "nats", "rabbitmq", "minio"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} in {text}");
    }
    assert!(text.contains("postgres:17.5") && text.contains("DATABASE_URL"), "{text}");
    let v = json(&ok(&env, &dir, &["catalog", "--json"]));
    assert_eq!(v["services"].as_array().map(Vec::len), Some(6));
    assert_eq!(v["services"][2]["ports"][1]["port"], 8025);
    // A service with a volume runs as a StatefulSet, one without as a Deployment.
    let kind_of = |name: &str| {
        let s = v["services"].as_array().and_then(|l| l.iter().find(|s| s["name"] == name));
        s.map(|s| s["kind"].clone()).unwrap_or_default()
    };
    assert_eq!(
        (kind_of("postgres"), kind_of("mailpit")),
        ("statefulset".into(), "deployment".into())
    );
    let show = stdout_of(&ok(&env, &dir, &["catalog", "show", "rabbitmq"]));
    assert!(show.contains("rabbitmq:4.1.4-management") && show.contains("AMQP_URL"), "{show}");
    assert!(show.contains("StatefulSet `rabbitmq` with a 1Gi PersistentVolumeClaim"), "{show}");
    // The first port is the one `{{ .Port }}` stands for, and only it says so.
    let port_lines: Vec<&str> = show.lines().filter(|l| l.contains("— {{ .Port }}")).collect();
    assert_eq!(port_lines.len(), 1, "{show}");
    assert!(port_lines[0].starts_with("  ports "), "{show}");
    // How each kind of readiness probe reads.
    assert!(show.contains("readiness    exec rabbitmq-diagnostics -q ping\n"), "{show}");
    let minio = stdout_of(&ok(&env, &dir, &["catalog", "show", "minio"]));
    assert!(minio.contains("readiness    HTTP GET /minio/health/ready on port api\n"), "{minio}");
    // Each list's label on its first line only; `args` only where the entry has some.
    assert!(
        minio.contains(
            "  env          MINIO_ROOT_USER=minioadmin\n               MINIO_ROOT_PASSWORD=minioadmin\n  args         server /data --console-address :9001\n"
        ),
        "{minio}"
    );
    assert!(minio.contains("\n  provides     S3_ENDPOINT=http://"), "{minio}");
    assert!(!show.contains("args"), "rabbitmq has none: {show}");
    let out = env.kilter(&dir).args(["catalog", "show", "rabbit"]).output().unwrap();
    assert_eq!(code(&out), 4);
    assert!(stderr_of(&out).contains("did you mean `rabbitmq`?"), "{}", stderr_of(&out));
    assert!(env.calls().is_empty(), "the catalog runs no tool");
}

#[test]
fn status_and_ls_show_the_services() {
    let env = Env::new();
    env.set_knob("apply_ready_ms", "0");
    let dir = project(&env, "shop", Some(TWO), false);
    let before = json(&ok(&env, &dir, &["status", "--json"]));
    assert_eq!(before["services"][0]["ready"], Value::Null, "no cluster: unknown");
    ok(&env, &dir, &["up"]);
    let v = json(&ok(&env, &dir, &["status", "--json"]));
    let (_, base) = ports_of("shop");
    assert_eq!(v["services"][1]["name"], "redis");
    assert_eq!(v["services"][1]["ready"], true);
    assert_eq!(v["services"][1]["ports"][0]["host"], format!("127.0.0.1:{}", base + 18).as_str());
    let text = stdout_of(&ok(&env, &dir, &["status"]));
    assert!(
        text.lines()
            .any(|l| l.starts_with("services") && l.contains("postgres") && l.contains("ready")),
        "{text}"
    );
    let ls = json(&ok(&env, &dir, &["ls", "--json"]));
    assert_eq!(ls["projects"][0]["services"]["postgres"]["postgres"], u64::from(base) + 19);
    let text = stdout_of(&ok(&env, &dir, &["ls"]));
    assert!(text.contains("postgres,redis"), "{text}");
}

#[test]
fn logs_restart_and_exec_find_a_service_by_its_name() {
    let env = Env::new();
    let dir = project(&env, "shop", Some(TWO), false);
    ok(&env, &dir, &["up"]);
    let logs = stdout_of(&ok(&env, &dir, &["logs", "redis"]));
    assert!(logs.contains("[pod/redis-0/redis] redis is ready"), "{logs}");
    ok(&env, &dir, &["restart", "postgres"]);
    assert!(
        env.calls().iter().any(|c| c.ends_with("rollout restart statefulset/postgres -n shop-dev")),
        "{:?}",
        env.calls()
    );
    env.set_knob("exec_path", "/usr/bin:/bin");
    let out = ok(&env, &dir, &["exec", "postgres", "--", "echo", "hello from postgres-0"]);
    assert_eq!(stdout_of(&out), "hello from postgres-0\n");
}

// ---------------------------------------------------------------------------------------------
// A snapshot of a database that only `services: [postgres]` describes, with a real PostgreSQL

#[test]
fn a_postgres_service_alone_is_enough_for_snapshot_and_restore() {
    let Some(pg) = crate::support::pg::Pg::start_or_skip(
        "services::a_postgres_service_alone_is_enough_for_snapshot_and_restore",
    ) else {
        return;
    };
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres]\n"), false);
    ok(&env, &dir, &["up"]);
    pg.wire(&env);
    pg.create_db("shop");
    pg.psql("shop", "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept by the snapshot');");
    ok(&env, &dir, &["db", "snapshot", "before"]);
    pg.psql("shop", "DELETE FROM t;");
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM t").trim(), "0");
    ok(&env, &dir, &["db", "restore", "before"]);
    assert_eq!(pg.psql("shop", "SELECT v FROM t").trim(), "kept by the snapshot");
    // It went through the service's StatefulSet, with the catalog's user and the project's db.
    assert!(
        env.calls().iter().any(|c| c.contains("exec postgres-0 -n shop-dev -- sh -c ")
            && c.ends_with(" kilter-dump zstd pg_dump -Fc -Z 0 -U postgres shop")),
        "{:?}",
        env.calls()
    );
}

// ---------------------------------------------------------------------------------------------
// Every rendered manifest against the Kubernetes OpenAPI schemas (PyPI `kubernetes-validate`)

/// The Kubernetes version of kind v0.32.0's node image (kindest/node:v1.36.1); the schemas are
/// per minor version, and kubernetes-validate ships 1.36.0.
const KUBE_VERSION: &str = "1.36.0";

fn validator() -> Option<PathBuf> {
    let out = std::process::Command::new("kubernetes-validate").arg("--version").output().ok()?;
    out.status.success().then(|| PathBuf::from("kubernetes-validate"))
}

#[test]
fn rendered_manifests_validate_against_the_kubernetes_schemas() {
    let Some(bin) = validator() else {
        skipped(
            "validating the rendered manifests",
            "kubernetes-validate is not installed (`pip install kubernetes-validate`; .ci/run installs it)",
        );
        return;
    };
    // The reviewed golden files, and what a real `up` of every catalog service wrote.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/services");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&golden)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "{files:?}");
    let env = Env::new();
    let dir = project(
        &env,
        "shop",
        Some("name: shop\nservices: [postgres, redis, mailpit, nats, rabbitmq, minio]\n"),
        false,
    );
    ok(&env, &dir, &["up"]);
    files.push(env.cache_dir("shop").join("services.yaml"));
    let out = std::process::Command::new(&bin)
        .args(["--strict", "-k", KUBE_VERSION])
        .args(&files)
        .output()
        .unwrap();
    let report = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "schema validation failed:\n{report}");
    // One `passed` line per object: PVC + Service + workload for four, Service + Deployment for two.
    let passed = report.lines().filter(|l| l.contains("services.yaml passed for resource")).count();
    assert_eq!(passed, 16, "{report}");
    assert!(report.contains(&format!("against version {}", &KUBE_VERSION[..4])), "{report}");
}

// ---------------------------------------------------------------------------------------------
// Failures: a NodePort someone else holds, a dry run without the tools, the API server's refusals

#[test]
fn a_node_port_held_by_another_service_fails_the_apply_with_a_hint() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\n"), false);
    ok(&env, &dir, &["up"]);
    // The project's own manifest took the top of the block (where kilter's services go).
    let (_, base) = ports_of("shop");
    let theirs = env.root().join("theirs.json");
    std::fs::write(
        &theirs,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": base + 19}]}
        })
        .to_string(),
    )
    .unwrap();
    env.ctl(&["apply", "kilter-shop", "shop-dev", theirs.to_str().unwrap()]);
    std::fs::write(dir.join("kilter.yaml"), "name: shop\nservices: [postgres]\n").unwrap();
    let out = env.kilter(&dir).arg("up").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains(&format!(
            "The Service \"postgres\" is invalid: spec.ports[0].nodePort: Invalid value: {}: provided port is already allocated",
            base + 19
        )),
        "{err}"
    );
    assert!(err.contains("let your manifests count up from KILTER_PORT_BASE"), "{err}");
}

#[test]
fn a_dry_run_without_kind_kubectl_and_tilt_prints_the_apply_and_a_bounded_wait() {
    let env = Env::without(&["kind", "kubectl", "tilt"]);
    let dir = project(&env, "shop", Some(TWO), true);
    let out = ok(&env, &dir, &["--dry-run", "up"]);
    let script = stdout_of(&out);
    let missing = "# not installed: kind, kubectl, tilt (their commands below use the plain names; queries that need them are not run)";
    assert!(script.lines().any(|l| l == missing), "the missing tools are named: {script}");
    assert!(script.contains("services.yaml) <<'KILTER_EOF'"), "{script}");
    assert!(script.contains("name: POSTGRES_PASSWORD"), "{script}");
    assert!(
        script.contains("kubectl --context kind-kilter-shop apply --server-side '--field-manager=kilter' -f - < "),
        "{script}"
    );
    assert!(
        script.lines().any(
            |l| l.starts_with("# wait up to ") && l.ends_with("s for the services to be ready")
        ),
        "{script}"
    );
    assert!(
        script.contains("until KUBECONFIG=")
            && script.contains(
                "rollout status statefulset/postgres -n shop-dev --timeout 10s >/dev/null 2>&1 && "
            ),
        "{script}"
    );
    assert!(
        script
            .contains("DATABASE_URL=postgres://postgres:postgres@postgres.shop-dev.svc:5432/shop"),
        "{script}"
    );
    assert!(
        stderr_of(&out).contains("would: apply services postgres, redis"),
        "{}",
        stderr_of(&out)
    );
    assert!(!env.state_home().join("kilter/ports.json").exists(), "a dry run reserves nothing");
}

/// `kubectl apply --server-side -f FILE` through the fake, as a test would run it by hand.
fn fake_apply(env: &Env, yaml: &str) -> std::process::Output {
    let f = env.root().join("m.yaml");
    std::fs::write(&f, yaml).unwrap();
    env.tool("kubectl")
        .env("KUBECONFIG", kubeconfig(env, "shop"))
        .args([
            "--context",
            "kind-kilter-shop",
            "apply",
            "--server-side",
            "--field-manager=t",
            "-f",
        ])
        .arg(&f)
        .output()
        .unwrap()
}

#[test]
fn the_fake_api_server_refuses_what_the_real_one_refuses() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [redis]\n"), false);
    ok(&env, &dir, &["up"]);
    let refused = |yaml: &str, want: &str| {
        let out = fake_apply(&env, yaml);
        assert_eq!(code(&out), 1, "{yaml}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains(want), "{yaml}:\n{}", stderr_of(&out));
    };
    refused(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop-dev}\nspec: {type: NodePort, ports: [{port: 1, nodePort: 40000}]}\n",
        "The Service \"s\" is invalid: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range. The range of valid ports is 30000-32767",
    );
    refused(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: redis-data, namespace: shop-dev}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}\n",
        "only dynamically provisioned pvc can be resized",
    );
    refused(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: redis, namespace: shop-dev}\nspec: {serviceName: other, selector: {matchLabels: {app.kubernetes.io/name: redis, app.kubernetes.io/managed-by: kilter}}, template: {metadata: {labels: {app.kubernetes.io/name: redis, app.kubernetes.io/managed-by: kilter}}, spec: {containers: [{name: redis, image: redis:7}]}}}\n",
        "The StatefulSet \"redis\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than",
    );
    refused(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: shop-dev}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: c}}, spec: {containers: [{name: d, image: x}]}}}\n",
        "`selector` does not match template `labels`",
    );
    refused(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop-dev}\n",
        "no matches for kind \"Widget\" in version \"example.com/v1\"\nensure CRDs are installed first",
    );
    refused(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: elsewhere}\nspec: {ports: [{port: 1}]}\n",
        "Error from server (NotFound): namespaces \"elsewhere\" not found",
    );
    // What succeeds is printed before the errors of the rest.
    let out = fake_apply(
        &env,
        "apiVersion: v1\nkind: Service\nmetadata: {name: fine, namespace: shop-dev}\nspec: {ports: [{port: 1}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: nowhere}\nspec: {ports: [{port: 1}]}\n",
    );
    assert_eq!((code(&out), stdout_of(&out).as_str()), (1, "service/fine serverside-applied\n"));
    // Applying the same again changes nothing: no new generation, the pods stay.
    let before = objects(&env, "statefulsets")["redis"]["metadata"]["generation"].clone();
    let pod_uid = objects(&env, "pods")["redis-0"]["metadata"]["uid"].clone();
    ok(&env, &dir, &["up"]);
    assert_eq!(objects(&env, "statefulsets")["redis"]["metadata"]["generation"], before);
    assert_eq!(objects(&env, "pods")["redis-0"]["metadata"]["uid"], pod_uid);
    // A restart's annotation survives a later apply (it belongs to another field manager).
    ok(&env, &dir, &["restart", "redis"]);
    ok(&env, &dir, &["up"]);
    let tmpl =
        &objects(&env, "statefulsets")["redis"]["spec"]["template"]["metadata"]["annotations"];
    assert!(tmpl["kubectl.kubernetes.io/restartedAt"].is_string(), "{tmpl}");
}

/// `add` on a running project applies at once and prints one line per service: a one-port
/// service without its port's name, a two-port one with each name. Without the project's
/// kubeconfig kilter does not reach for the cluster; it only edits kilter.yaml.
#[test]
fn add_prints_each_services_ports_and_needs_the_kubeconfig_to_apply() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres, mailpit]\n"), false);
    // `up`'s summary: the first service line carries the label, the next ones are indented.
    let err = stderr_of(&ok(&env, &dir, &["up", "--no-tilt"]));
    assert!(
        err.contains(
            "\n  services    postgres  127.0.0.1:30359 → postgres.shop-dev.svc:5432\n              mailpit   smtp 127.0.0.1:30358"
        ),
        "{err}"
    );
    assert!(err.contains("\n  env         eval \"$(kilter env)\""), "{err}");
    ok(&env, &dir, &["remove", "mailpit"]);
    // slot 17: 30340-30359, kilter's services from the top down (docs/files.md); the names are
    // padded to the longest service name (postgres).
    let err = stderr_of(&ok(&env, &dir, &["add", "redis"]));
    assert!(err.contains("  redis     127.0.0.1:30358 → redis.shop-dev.svc:6379\n"), "{err}");
    let err = stderr_of(&ok(&env, &dir, &["add", "mailpit"]));
    assert!(
        err.contains(
            "  mailpit   smtp 127.0.0.1:30357 → mailpit.shop-dev.svc:1025, http 127.0.0.1:30356 → mailpit.shop-dev.svc:8025\n"
        ),
        "{err}"
    );

    std::fs::remove_file(kubeconfig(&env, "shop")).unwrap();
    let applies = |env: &Env| env.calls().iter().filter(|c| c.contains(" apply ")).count();
    let before = applies(&env);
    let out = ok(&env, &dir, &["add", "nats"]);
    let err = stderr_of(&out);
    assert!(err.contains("is not running; `kilter up` starts the services"), "{err}");
    assert_eq!(applies(&env), before, "no apply without the kubeconfig");
    assert!(read(dir.join("kilter.yaml")).contains("nats"));
}

/// `add` checks the port registry (and everything else) before kilter.yaml changes: a corrupt
/// `ports.json` with the cluster running is exit 4 with kilter.yaml untouched and no "Added".
#[test]
fn add_validates_everything_before_it_writes_or_says_added() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres]\n"), false);
    ok(&env, &dir, &["up", "--no-tilt"]);
    let before = std::fs::read(dir.join("kilter.yaml")).unwrap();
    let ports = env.state_home().join("kilter/ports.json");
    std::fs::write(&ports, "{\"version\": 1, \"projects\": ").unwrap();
    let out = env.kilter(&dir).args(["add", "redis"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(!err.contains("Added"), "{err}");
    assert!(err.contains("ports.json"), "{err}");
    assert_eq!(std::fs::read(dir.join("kilter.yaml")).unwrap(), before, "kilter.yaml untouched");
    // The port registry gone while the cluster runs: also refused before writing.
    std::fs::remove_file(&ports).unwrap();
    let out = env.kilter(&dir).args(["add", "redis"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(!err.contains("Added") && err.contains("is missing"), "{err}");
    assert_eq!(std::fs::read(dir.join("kilter.yaml")).unwrap(), before);
}

/// `env` on a cluster that is absent or stopped says so on stderr; the exports stay the same and
/// the exit code is 0.
#[test]
fn env_says_when_the_cluster_is_absent_or_stopped() {
    let env = Env::new();
    let dir = project(&env, "shop", Some("name: shop\nservices: [postgres]\n"), false);
    let absent = ok(&env, &dir, &["env"]);
    assert!(
        stderr_of(&absent).contains(
            "note: cluster kilter-shop does not exist: these are the addresses `kilter up` will give it"
        ),
        "{}",
        stderr_of(&absent)
    );
    ok(&env, &dir, &["up", "--no-tilt"]);
    let running = ok(&env, &dir, &["env"]);
    assert_eq!(stderr_of(&running), "", "nothing to say while it runs");
    ok(&env, &dir, &["stop"]);
    for args in [&["env"][..], &["env", "--json"], &["env", "--dotenv"]] {
        let out = ok(&env, &dir, args);
        assert!(
            stderr_of(&out).contains("note: cluster kilter-shop is exited (not running): nothing answers on these addresses until `kilter up` starts it"),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
    let stopped = ok(&env, &dir, &["env"]);
    assert_eq!(stdout_of(&stopped), stdout_of(&running), "the exports are the same");
    assert_eq!(stdout_of(&absent), stdout_of(&running));
    // Docker down: it says it cannot tell, and still prints the exports.
    env.ctl(&["daemon", "down"]);
    let out = ok(&env, &dir, &["env"]);
    assert!(
        stderr_of(&out).contains("could not tell whether cluster kilter-shop runs"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(stdout_of(&out), stdout_of(&running));
}

/// On a terminal, the services step's spinner names the services not ready yet, with why.
#[test]
fn waiting_for_services_on_a_terminal_names_the_ones_not_ready() {
    let Some(script) = crate::support::script_or_skip("the services step's spinner") else {
        return;
    };
    let env = Env::new();
    env.set_knob("apply_ready_ms", "1500");
    let dir = project(&env, "shop", Some(TWO), false);
    let kilter = env!("CARGO_BIN_EXE_kilter");
    let mut cmd = crate::support::on_a_terminal(script, &env, &dir, &format!("{kilter} up"));
    let out = cmd.env("TERM", "xterm").output().expect("script");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains(
            "Waiting for services: postgres (ContainerCreating), redis (ContainerCreating) ("
        ),
        "{shown}"
    );
    assert!(shown.contains("postgres ready") && shown.contains("redis ready"), "{shown}");
}

/// Ctrl-C while waiting for the services is the interrupt (exit 130), not the step's timeout.
#[test]
fn sigint_while_waiting_for_services_is_the_interrupt_not_a_timeout() {
    let env = Env::new();
    env.set_knob("apply_ready_ms", "never");
    let dir = project(&env, "shop", Some(TWO), false);
    let child =
        env.kilter_std(&dir).arg("up").stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    assert!(crate::support::wait_until(Duration::from_secs(20), || env
        .calls()
        .iter()
        .any(|c| c.contains(" get 'statefulsets,deployments,pods' "))));
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted") && !err.contains("services not ready"), "{err}");
}
