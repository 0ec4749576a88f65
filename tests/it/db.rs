//! `kilter db snapshot|list|restore|rm` and destroy's pre-destroy snapshot, against a REAL
//! PostgreSQL (support/pg.rs): the fake kubectl's `exec` runs the real pg_dump/pg_restore/psql
//! against a throwaway server, so the data really flows through kilter (issue #4 scenarios 1–6).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::*;
use crate::support::pg::Pg;
use crate::support::{Env, read};

/// A project `shop` whose cluster is up, with a `postgres` StatefulSet whose pod runs, and a
/// real server holding an empty database `shop`.
struct Db {
    env: Env,
    pg: Pg,
    dir: PathBuf,
}

const YAML: &str = "name: shop\ndatabase:\n  service: postgres\n  user: postgres\n";

fn setup(test: &str, yaml: &str) -> Option<Db> {
    let pg = Pg::start_or_skip(test)?;
    let env = Env::new();
    let dir = project(&env, "shop", Some(yaml), false);
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "up: {}", stderr_of(&out));
    postgres_workload(&env, &[]);
    pg.wire(&env);
    pg.create_db("shop");
    Some(Db { env, pg, dir })
}

/// (Re)create the database workload in the fake cluster.
fn postgres_workload(env: &Env, extra: &[&str]) {
    let mut args =
        vec!["workload", "shop-dev", "postgres", "--kind", "statefulset", "--image", "postgres:15"];
    args.extend(extra);
    env.ctl(&args);
}

impl Db {
    fn kilter(&self, args: &[&str]) -> std::process::Output {
        self.env.kilter(&self.dir).args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.kilter(args);
        assert!(
            out.status.success(),
            "kilter {args:?} failed ({:?}):\n{}",
            out.status.code(),
            stderr_of(&out)
        );
        out
    }
    fn snapshots(&self) -> PathBuf {
        self.env.data_dir("shop").join("snapshots")
    }
    fn dump(&self, name: &str) -> PathBuf {
        self.snapshots().join(format!("{name}.dump.zst"))
    }
    fn meta(&self, name: &str) -> PathBuf {
        self.snapshots().join(format!("{name}.json"))
    }
    fn sql(&self, sql: &str) -> String {
        self.pg.psql("shop", sql)
    }
    fn rows(&self) -> String {
        self.sql("SELECT id, name, coalesce(note, '<null>'), qty FROM items ORDER BY id")
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.snapshots())
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
    fn list_json(&self) -> Value {
        let out = self.ok(&["db", "list", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

const SEED: &str = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, note text, qty numeric(10,2));
INSERT INTO items VALUES (1, 'apple', 'crisp', 1.50), (2, 'brötchen ü', NULL, 2.00), (3, 'quote''s', 'tab\there', 0);
INSERT INTO items SELECT g, md5(g::text), repeat(md5(g::text), 4), g / 7.0 FROM generate_series(10, 2000) g;";

/// `text` (logged calls, echoed lines, a dry-run script) with kilter's stream checks around the
/// database programs taken out: `sh -c '<script>' kilter-dump PROG…` and `sh -c '<script>'
/// kilter-restore BYTES SHA256 PROG…` become `PROG…`, what the pod's program is asked to do.
fn plain(text: &str) -> String {
    let re = regex::Regex::new(
        r"sh -c .*? kilter-(dump (none|zstd)|restore [0-9]+ [0-9a-f]{64} (none|zstd)) ",
    )
    .unwrap();
    re.replace_all(text, "").into_owned()
}

fn plain_all(calls: &[String]) -> Vec<String> {
    calls.iter().map(|c| plain(c)).collect()
}

/// kilter's question to the database pod before a dump or the restore of a zstd file.
fn probe_call(ns: &str, pod: &str, program: &str) -> String {
    format!(
        "kubectl --context kind-kilter-{ns} exec {pod} -n {ns}-dev -- sh -c '\"$1\" --version 2>/dev/null || true; if command -v zstd >/dev/null 2>&1; then echo \"kilter-probe: zstd\"; fi' kilter-probe {program}"
    )
}

/// How kilter renders its own compression (docs/dry-run.md).
fn zstd_shell() -> String {
    "zstd -q -1 --single-thread".to_owned()
}

/// The decompressed contents of a `.zst` file.
fn unzstd(p: &Path) -> Vec<u8> {
    zstd::stream::decode_all(std::fs::File::open(p).unwrap()).unwrap()
}

/// The sha256 of a file as the real coreutils `sha256sum` computes it (independent of kilter's
/// own hashing).
fn sha256_hex(p: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(p).output().expect("sha256sum runs");
    assert!(out.status.success(), "sha256sum {}", p.display());
    let line = String::from_utf8(out.stdout).unwrap();
    let hex = line.split_whitespace().next().unwrap_or_default().to_owned();
    assert_eq!(hex.len(), 64, "{line}");
    hex
}

/// Scenario 1: rows → snapshot → change and delete rows → restore → exactly the original rows.
#[test]
fn snapshot_then_restore_brings_back_exactly_the_original_rows() {
    let Some(db) = setup("snapshot_then_restore", YAML) else { return };
    db.sql(SEED);
    let original = db.rows();
    assert!(original.lines().count() > 1000);

    let mark = db.env.calls().len();
    let out = db.ok(&["db", "snapshot", "before"]);
    assert_eq!(stdout_of(&out), "", "snapshot prints nothing on stdout");
    let calls = calls_since(&db.env, mark);
    let want = [
        "docker inspect --type container kilter-shop-control-plane",
        "kubectl --context kind-kilter-shop get 'deployment,statefulset' -n shop-dev -o json",
        "kubectl --context kind-kilter-shop get pods -n shop-dev -l 'app=postgres' -o json",
        "kubectl --context kind-kilter-shop exec postgres-0 -n shop-dev -- psql -U postgres -d shop -tAc 'show server_version'",
        &probe_call("shop", "postgres-0", "pg_dump"),
        "kubectl --context kind-kilter-shop exec postgres-0 -n shop-dev -- pg_dump -Fc -Z 0 -U postgres shop",
    ];
    assert!(calls[5].contains(" -- sh -c 'c=$1; shift; "), "{calls:#?}");
    assert!(
        calls[5].ends_with(" kilter-dump zstd pg_dump -Fc -Z 0 -U postgres shop"),
        "{calls:#?}"
    );
    assert_eq!(plain_all(&calls), want, "the exact calls, under kilter's stream check");
    let partial = db.snapshots().join("before.dump.zst.partial");
    let stderr = plain(&stderr_of(&out));
    assert!(
        stderr.contains(&format!(
            "$ KUBECONFIG={} kubectl --context kind-kilter-shop exec postgres-0 -n shop-dev -- pg_dump -Fc -Z 0 -U postgres shop | cat > {}",
            kubeconfig(&db.env, "shop").display(),
            partial.display()
        )),
        "the dump is echoed with its redirection (the pod compresses):\n{stderr}"
    );
    assert_eq!(db.files(), ["before.dump.zst", "before.json"]);
    // The closing line says what was dumped, what is on disk, and where.
    let closing = stderr
        .lines()
        .find(|l| l.contains("Snapshot `before`: "))
        .unwrap_or_else(|| panic!("no closing line:\n{stderr}"));
    assert!(
        closing.contains(" dumped → ")
            && closing.ends_with(&format!("→ {}", db.dump("before").display())),
        "{closing}"
    );
    assert_eq!(mode(&db.snapshots()), 0o700);
    assert_eq!(mode(&db.dump("before")), 0o600);
    assert_eq!(mode(&db.meta("before")), 0o600);
    // A standard zstd file (what `zstd -dc` reads) holding pg_dump's archive.
    let raw = unzstd(&db.dump("before"));
    assert!(raw.starts_with(b"PGDMP"));
    assert!((std::fs::metadata(db.dump("before")).unwrap().len() as usize) < raw.len() / 2);

    let meta: Value = serde_json::from_str(&read(db.meta("before"))).unwrap();
    assert_eq!(meta["schema_version"], 2);
    assert_eq!(meta["compression"], serde_json::json!({"method": "zstd", "level": 1}));
    assert_eq!(meta["pinned"], false);
    let dbs = meta["databases"].as_array().unwrap();
    assert_eq!(dbs.len(), 1);
    assert_eq!(dbs[0]["name"], "shop");
    assert_eq!(dbs[0]["file"], "before.dump.zst");
    assert_eq!(dbs[0]["format"], "pg_dump -Fc");
    assert_eq!(dbs[0]["raw_size"].as_u64().unwrap(), raw.len() as u64);
    assert_eq!(dbs[0]["size"], meta["size"]);
    assert_eq!(dbs[0]["sha256"], meta["sha256"]);
    assert_eq!(meta["name"], "before");
    assert_eq!(meta["project"], "shop");
    assert_eq!(meta["database"], "shop");
    assert_eq!(meta["engine"], "postgres");
    assert_eq!(meta["server_version"].as_str().unwrap(), db.sql("SHOW server_version").trim());
    assert_eq!(meta["size"].as_u64().unwrap(), std::fs::metadata(db.dump("before")).unwrap().len());
    assert_eq!(meta["sha256"].as_str().unwrap(), sha256_hex(&db.dump("before")));
    assert_eq!(meta["kilter_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(meta["pod"], "postgres-0");
    assert!(meta["created_at"].as_str().unwrap().ends_with('Z'), "{meta}");

    db.sql("UPDATE items SET name = 'changed', qty = 99 WHERE id < 100; DELETE FROM items WHERE id > 1500; INSERT INTO items VALUES (5000, 'new', NULL, 1); CREATE TABLE extra (x int);");
    assert_ne!(db.rows(), original);

    let mark = db.env.calls().len();
    let out = db.ok(&["db", "restore", "before"]);
    assert_eq!(db.rows(), original, "exactly the original rows");
    let calls = plain_all(&calls_since(&db.env, mark));
    let restore = calls
        .iter()
        .position(|c| {
            c == "kubectl --context kind-kilter-shop exec -i postgres-0 -n shop-dev -- pg_restore --clean --if-exists --no-owner -f - psql -X -q -v 'ON_ERROR_STOP=1' -U postgres -d shop"
        })
        .unwrap_or_else(|| panic!("pg_restore call: {calls:#?}"));
    assert_eq!(
        calls.get(restore + 1).map(String::as_str),
        Some(
            "kubectl --context kind-kilter-shop exec postgres-0 -n shop-dev -- psql -U postgres -d shop -tAc 'select 1'"
        ),
        "success only after the database answers"
    );
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!(
            "$ cat {} | KUBECONFIG={} kubectl --context kind-kilter-shop exec -i postgres-0",
            db.dump("before").display(),
            kubeconfig(&db.env, "shop").display()
        )),
        "kilter sends the zstd file as it is; the pod decompresses it:\n{stderr}"
    );
    assert!(stderr.contains("Restored `before`"), "{stderr}");
    // Into the database it came from: no warning, and no "does it exist" check for it.
    assert!(!stderr.contains("was taken from database"), "{stderr}");
    let execs: Vec<&String> = calls.iter().filter(|c| c.contains(" exec ")).collect();
    assert_eq!(execs.len(), 3, "the probe, pg_restore and the `select 1` only: {execs:#?}");
    let log = commands_log(&db.env, "shop");
    assert!(log.contains("pg_restore --clean --if-exists --no-owner"), "{log}");
}

/// Scenario 2: `destroy --yes` takes `pre-destroy-…` first; after `up` on an empty database,
/// restoring it brings the rows back.
#[test]
fn destroy_takes_a_pre_destroy_snapshot_that_restores_after_up() {
    let Some(db) = setup("destroy_pre_destroy", YAML) else { return };
    db.sql(SEED);
    let original = db.rows();

    let out = db.ok(&["destroy", "--yes"]);
    let files = db.files();
    assert_eq!(files.len(), 2, "{files:?}");
    let name = files[0].strip_suffix(".dump.zst").expect("a dump").to_string();
    let stamp = name.strip_prefix("pre-destroy-").expect("pre-destroy-<timestamp>");
    assert!(
        stamp.len() == 15
            && stamp.as_bytes()[8] == b'-'
            && stamp.chars().filter(|c| c.is_ascii_digit()).count() == 14,
        "UTC YYYYMMDD-HHMMSS: {name}"
    );
    assert_eq!(files[1], format!("{name}.json"));
    let calls = db.env.calls();
    let dump = calls
        .iter()
        .position(|c| c.contains(" kilter-dump zstd pg_dump -Fc -Z 0"))
        .expect("pg_dump ran");
    let delete = calls.iter().position(|c| c.starts_with("kind delete cluster")).expect("deleted");
    assert!(dump < delete, "the snapshot comes first: {calls:#?}");
    let stderr = stderr_of(&out);
    let size = std::fs::metadata(db.snapshots().join(&files[0])).unwrap().len();
    let kept = format!("Snapshots are kept: 1 in {} ({size} bytes)", db.snapshots().display());
    assert!(stderr.contains(&kept), "says where and how many: {stderr}");
    assert!(db.env.container("kilter-shop-control-plane").is_none());

    // A new cluster with a fresh, empty database.
    db.pg.recreate_db("shop");
    db.ok(&["up"]);
    postgres_workload(&db.env, &[]);
    assert_eq!(db.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'items'").trim(), "0");

    let out = db.ok(&["db", "restore"]);
    assert!(stderr_of(&out).contains(&format!("newest snapshot, `{name}`")), "{}", stderr_of(&out));
    assert_eq!(db.rows(), original);
}

#[test]
fn destroy_snapshots_only_a_configured_running_database_and_stops_when_it_fails() {
    let Some(db) = setup("destroy_variants", YAML) else { return };
    db.sql(SEED);

    // The database pod does not run: destroy stops before deleting anything.
    postgres_workload(&db.env, &["--phase", "Pending"]);
    let out = db.kilter(&["destroy", "--yes"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("could not take the pre-destroy snapshot"), "{stderr}");
    assert!(stderr.contains("--no-snapshot"), "hint: {stderr}");
    assert!(db.env.container("kilter-shop-control-plane").is_some(), "nothing deleted");
    assert!(!db.env.calls().iter().any(|c| c.starts_with("kind delete")));
    assert!(db.files().is_empty(), "{:?}", db.files());

    // --no-snapshot skips it.
    let mark = db.env.calls().len();
    db.ok(&["destroy", "--yes", "--no-snapshot"]);
    assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains(" exec ")));
    assert!(db.files().is_empty());

    // Without a `database:` section there is nothing to snapshot.
    std::fs::write(db.dir.join("kilter.yaml"), "name: shop\n").unwrap();
    db.ok(&["up"]);
    postgres_workload(&db.env, &[]);
    let mark = db.env.calls().len();
    db.ok(&["destroy", "--yes"]);
    assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains(" exec ")));
    assert!(db.files().is_empty());
}

/// Scenario 3: pg_dump fails after writing part of its output.
#[test]
fn a_failed_dump_leaves_nothing_and_keeps_the_older_snapshot_byte_identical() {
    let Some(db) = setup("failed_dump", YAML) else { return };
    db.sql(SEED);
    db.ok(&["db", "snapshot", "nightly"]);
    let old_dump = std::fs::read(db.dump("nightly")).unwrap();
    let old_meta = std::fs::read(db.meta("nightly")).unwrap();
    assert!(old_dump.len() > 20_000, "big enough to fail part-way: {}", old_dump.len());

    db.sql("UPDATE items SET qty = qty + 1");
    // Metadata temp files left by an earlier kill (this kilter's name for them, and earlier
    // kilters'): a snapshot of the name clears them before it dumps, so they are gone even
    // though this dump fails.
    std::fs::write(db.snapshots().join(".nightly.json.tmp"), b"{half").unwrap();
    std::fs::write(db.snapshots().join(".nightly.json.kilter-tmp.99999"), b"{half").unwrap();
    // And the `.partial` an earlier kill left of `other`: it is no snapshot, so a failed
    // snapshot of that name says none was written (not that one is unchanged).
    std::fs::write(db.snapshots().join("other.dump.zst.partial"), b"half").unwrap();
    db.env.set_knob("exec_fail_after_bytes", "8192");
    for (args, kept) in [
        (
            &["db", "snapshot", "nightly", "--force"][..],
            "the existing snapshot `nightly` is unchanged",
        ),
        (&["db", "snapshot", "other"], "no snapshot `other` was written"),
    ] {
        let out = db.kilter(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(stderr.contains("pg_dump: error"), "pg_dump's stderr is shown: {stderr}");
        assert!(stderr.contains(&format!("the partial dump was removed; {kept}")), "{stderr}");
    }
    assert_eq!(
        db.files(),
        ["nightly.dump.zst", "nightly.json"],
        "no .partial, no leftover temp file, no `other`"
    );
    assert_eq!(std::fs::read(db.dump("nightly")).unwrap(), old_dump, "old dump untouched");
    assert_eq!(std::fs::read(db.meta("nightly")).unwrap(), old_meta, "old metadata untouched");

    // The old snapshot still restores.
    db.env.set_knob("exec_fail_after_bytes", "0");
    db.ok(&["db", "restore", "nightly"]);
    assert_eq!(db.sql("SELECT qty FROM items WHERE id = 1").trim(), "1.50");
}

/// Ctrl-C during the dump: the `.partial` goes, an existing snapshot stays.
#[test]
fn an_interrupted_dump_leaves_no_partial_file() {
    let Some(db) = setup("interrupted_dump", YAML) else { return };
    db.sql(SEED);
    db.ok(&["db", "snapshot", "keep"]);
    let old = std::fs::read(db.dump("keep")).unwrap();
    // Every fake call now takes 200 ms, so kilter is caught while kubectl exec is starting.
    db.env.set_knob("latency_ms", "200");
    let child = db
        .env
        .kilter_std(&db.dir)
        .args(["db", "snapshot", "keep", "--force"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = db.snapshots().join("keep.dump.zst.partial");
    assert!(
        crate::support::wait_until(std::time::Duration::from_secs(20), || partial.exists()),
        "the dump started"
    );
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr_of(&out));
    assert_eq!(db.files(), ["keep.dump.zst", "keep.json"]);
    assert_eq!(std::fs::read(db.dump("keep")).unwrap(), old);
}

/// Scenario 4: one flipped byte (or a truncated file) is refused before any pg_restore.
#[test]
fn a_corrupt_or_truncated_snapshot_is_refused_before_the_database_is_touched() {
    let Some(db) = setup("corrupt_restore", YAML) else { return };
    db.sql(SEED);
    db.ok(&["db", "snapshot", "s1"]);
    db.sql("DELETE FROM items WHERE id > 10");
    let after_delete = db.rows();

    let mut bytes = std::fs::read(db.dump("s1")).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(db.dump("s1"), &bytes).unwrap();
    let mark = db.env.calls().len();
    let out = db.kilter(&["db", "restore", "s1"]);
    assert_ne!(code(&out), 0);
    assert_eq!(code(&out), 1);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("is corrupt") && stderr.contains("nothing was restored"), "{stderr}");
    let calls = calls_since(&db.env, mark);
    assert!(!calls.iter().any(|c| c.contains("pg_restore")), "no pg_restore: {calls:#?}");
    assert!(!calls.iter().any(|c| c.contains(" exec ")), "nothing ran in the pod: {calls:#?}");
    assert_eq!(db.rows(), after_delete, "database untouched");

    bytes[i] ^= 0x01;
    bytes.truncate(bytes.len() - 100);
    std::fs::write(db.dump("s1"), &bytes).unwrap();
    let out = db.kilter(&["db", "restore", "s1"]);
    assert_eq!(code(&out), 1);
    assert!(stderr_of(&out).contains("is truncated"), "{}", stderr_of(&out));
    assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains("pg_restore")));
}

/// Scenario 5: names, --force, the default name, list order, rm, restore of the newest.
#[test]
fn names_force_default_name_list_rm_and_newest() {
    let Some(db) = setup("names_list_rm", YAML) else { return };
    db.sql(SEED);
    let mark = db.env.calls().len();
    let long = "x".repeat(65);
    for bad in ["../x", "a/b", "", ".hidden", long.as_str()] {
        for verb in [&["db", "snapshot", bad][..], &["db", "restore", bad], &["db", "rm", bad]] {
            let out = db.kilter(verb);
            assert_eq!(code(&out), 4, "{verb:?}: {}", stderr_of(&out));
            assert!(stderr_of(&out).contains("invalid snapshot name"), "{}", stderr_of(&out));
        }
    }
    assert!(calls_since(&db.env, mark).is_empty(), "bad names are refused before any call");
    assert!(db.files().is_empty());
    db.ok(&["db", "snapshot", &"x".repeat(64)]);
    db.ok(&["db", "rm", &"x".repeat(64)]);

    // Default name: the UTC time it was taken.
    let before = now_compact();
    db.ok(&["db", "snapshot"]);
    let after = now_compact();
    let files = db.files();
    assert_eq!(files.len(), 2, "{files:?}");
    let default = files[0].strip_suffix(".dump.zst").unwrap().to_string();
    assert!(before <= default && default <= after, "{before} <= {default} <= {after}");

    // An existing name needs --force; --force replaces it.
    let sha = sha256_hex(&db.dump(&default));
    let out = db.kilter(&["db", "snapshot", &default]);
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("already exists") && stderr_of(&out).contains("--force"));
    let meta: Value = serde_json::from_str(&read(db.meta(&default))).unwrap();
    let taken = format!("already exists (taken {}, ", meta["created_at"].as_str().unwrap());
    assert!(stderr_of(&out).contains(&taken), "{}", stderr_of(&out));
    assert_eq!(sha256_hex(&db.dump(&default)), sha);
    db.sql("UPDATE items SET qty = 7");
    // A metadata temp file left by a kill between its write and its rename goes with --force.
    let tmp = db.snapshots().join(format!(".{default}.json.tmp"));
    std::fs::write(&tmp, b"{half").unwrap();
    db.ok(&["db", "snapshot", &default, "--force"]);
    assert!(!tmp.exists(), "the stale metadata temp file is removed");
    assert_ne!(sha256_hex(&db.dump(&default)), sha, "replaced");
    let meta: Value = serde_json::from_str(&read(db.meta(&default))).unwrap();
    assert_eq!(meta["sha256"].as_str().unwrap(), sha256_hex(&db.dump(&default)));
    db.ok(&["db", "rm", &default]);

    // Three snapshots; make their times distinct and out of name order.
    db.sql("UPDATE items SET qty = 1");
    db.ok(&["db", "snapshot", "a"]);
    db.sql("UPDATE items SET qty = 2");
    db.ok(&["db", "snapshot", "b"]);
    db.sql("UPDATE items SET qty = 3");
    db.ok(&["db", "snapshot", "c"]);
    let order = |db: &Db| -> Vec<String> {
        db.list_json()["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(order(&db), ["c", "b", "a"], "newest first, even within one second");
    for (name, when) in [
        ("a", "2026-01-03T00:00:00Z"),
        ("b", "2026-01-01T00:00:00Z"),
        ("c", "2026-01-02T00:00:00Z"),
    ] {
        let mut m: Value = serde_json::from_str(&read(db.meta(name))).unwrap();
        m["created_at"] = when.into();
        std::fs::write(db.meta(name), serde_json::to_string(&m).unwrap()).unwrap();
    }
    let list = db.list_json();
    assert_eq!(list["schema_version"], 2);
    assert_eq!(list["project"], "shop");
    let names: Vec<&str> =
        list["snapshots"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "c", "b"], "newest first");
    let first = &list["snapshots"][0];
    assert_eq!(first["database"], "shop");
    assert_eq!(first["created_at"], "2026-01-03T00:00:00Z");
    assert_eq!(first["size"].as_u64().unwrap(), std::fs::metadata(db.dump("a")).unwrap().len());

    // `db snapshot list` is an alias; the table has the columns.
    let alias = db.ok(&["db", "snapshot", "list", "--json"]);
    assert_eq!(serde_json::from_slice::<Value>(&alias.stdout).unwrap(), list);
    let table = stdout_of(&db.ok(&["db", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("CREATED"), "{table}");
    assert!(lines[0].contains("SIZE") && lines[0].contains("COMPRESSION"), "{table}");
    assert!(lines[0].contains("DATABASE") && lines[0].ends_with("NOTE"), "{table}");
    assert!(lines[1].starts_with("a ") && lines[1].ends_with(" shop"), "{table}");
    assert!(lines[1].contains(" zstd -1 "), "{table}");
    assert_eq!(lines.len(), 4, "{table}");

    // rm
    db.ok(&["db", "rm", "c"]);
    assert_eq!(db.files(), ["a.dump.zst", "a.json", "b.dump.zst", "b.json"]);
    let out = db.kilter(&["db", "rm", "c"]);
    assert_eq!(code(&out), 4);
    assert!(stderr_of(&out).contains("no snapshot named `c`"), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("a, b"), "lists what exists: {}", stderr_of(&out));

    // Restore without a name: the newest (a, qty = 1).
    db.sql("UPDATE items SET qty = 9");
    let out = db.ok(&["db", "restore"]);
    assert!(stderr_of(&out).contains("newest snapshot, `a`"), "{}", stderr_of(&out));
    assert_eq!(db.sql("SELECT DISTINCT qty FROM items WHERE id >= 10").trim(), "1.00");
    let out = db.kilter(&["db", "restore", "zzz"]);
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));
}

fn now_compact() -> String {
    let out = std::process::Command::new("date").args(["-u", "+%Y%m%d-%H%M%S"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `--dry-run`: queries run, mutations are printed with their redirections, nothing changes.
#[test]
fn dry_run_prints_the_dump_restore_and_rm_commands() {
    let Some(db) = setup("db_dry_run", YAML) else { return };
    db.sql(SEED);
    db.ok(&["db", "snapshot", "base"]);
    let files = db.files();

    let mark = db.env.calls().len();
    let out = db.ok(&["--dry-run", "db", "snapshot", "plan"]);
    let script = plain(&stdout_of(&out));
    let partial = db.snapshots().join("plan.dump.zst.partial");
    assert!(
        script.contains(&format!(
            "exec postgres-0 -n shop-dev -- pg_dump -Fc -Z 0 -U postgres shop | cat > {}",
            partial.display()
        )),
        "{script}"
    );
    assert!(
        script.contains(&format!("mv -f {} {}", partial.display(), db.dump("plan").display())),
        "{script}"
    );
    assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains("kilter-dump")), "not run");
    assert_eq!(db.files(), files);

    db.sql("DELETE FROM items");
    let out = db.ok(&["--dry-run", "db", "restore", "base"]);
    let script = plain(&stdout_of(&out));
    assert!(
        script.contains(&format!(
            "cat {} | KUBECONFIG={} kubectl --context kind-kilter-shop exec -i postgres-0 -n shop-dev -- pg_restore --clean --if-exists --no-owner -f - psql -X -q -v 'ON_ERROR_STOP=1' -U postgres -d shop\n",
            db.dump("base").display(),
            kubeconfig(&db.env, "shop").display()
        )),
        "{script}"
    );
    assert_eq!(db.sql("SELECT count(*) FROM items").trim(), "0", "not restored");

    let out = db.ok(&["--dry-run", "db", "rm", "base"]);
    let script = stdout_of(&out);
    let meta_rm = script.find(&format!("rm -f {}\n", db.meta("base").display()));
    let dump_rm = script.find(&format!("rm -f {}\n", db.dump("base").display()));
    assert!(
        meta_rm.is_some() && dump_rm.is_some() && meta_rm < dump_rm,
        "the metadata goes first: {script}"
    );
    assert_eq!(db.files(), files);
}

/// Scenario 6: the database pod is not running (or the workload is missing).
#[test]
fn a_database_that_is_not_running_is_a_clear_error() {
    let Some(db) = setup("db_not_running", YAML) else { return };
    for (extra, status) in
        [(&["--phase", "Pending"][..], "Pending"), (&["--crash"], "CrashLoopBackOff")]
    {
        postgres_workload(&db.env, extra);
        let mark = db.env.calls().len();
        let out = db.kilter(&["db", "snapshot", "x"]);
        assert_eq!(code(&out), 1, "{}", stderr_of(&out));
        let stderr = stderr_of(&out);
        assert!(stderr.contains("the database is not running"), "{stderr}");
        assert!(stderr.contains(&format!("postgres-0 ({status}")), "{stderr}");
        assert!(stderr.contains("statefulset/postgres"), "{stderr}");
        assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains(" exec ")));
        assert!(db.files().is_empty(), "{:?}", db.files());
    }

    // A workload of another name: the error lists what exists.
    std::fs::write(db.dir.join("kilter.yaml"), "name: shop\ndatabase:\n  service: pg\n").unwrap();
    postgres_workload(&db.env, &[]);
    let out = db.kilter(&["db", "snapshot", "x"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("database workload `pg` not found"), "{stderr}");
    assert!(stderr.contains("postgres (statefulset)"), "{stderr}");

    // A stopped cluster.
    std::fs::write(db.dir.join("kilter.yaml"), YAML).unwrap();
    db.ok(&["stop"]);
    let out = db.kilter(&["db", "snapshot", "x"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("kilter up"), "{}", stderr_of(&out));
    assert!(db.files().is_empty());
}

/// A Deployment with its own labels and a second container works too (selector + `-c`).
#[test]
fn a_deployment_with_custom_labels_and_a_sidecar() {
    let Some(db) = setup("db_deployment", "name: shop\ndatabase:\n  service: db\n  name: app\n")
    else {
        return;
    };
    db.pg.create_db("app");
    db.pg.psql("app", "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)");
    // The database workload `db`: a Deployment with its own labels, an exporter sidecar first.
    let with_sidecar = |container: &str| {
        db.env.ctl(&[
            "workload",
            "shop-dev",
            "db",
            "--kind",
            "deployment",
            "--label",
            "app.kubernetes.io/name=db",
            "--container",
            "exporter",
            "--container",
            container,
        ])
    };
    with_sidecar("postgres");
    let mark = db.env.calls().len();
    db.ok(&["db", "snapshot", "d1"]);
    let calls = calls_since(&db.env, mark);
    assert!(
        calls
            .iter()
            .any(|c| c.ends_with("get pods -n shop-dev -l 'app.kubernetes.io/name=db' -o json")),
        "{calls:#?}"
    );
    let dump = plain(calls.iter().find(|c| c.contains("kilter-dump")).expect("dumped"));
    assert!(dump.contains(" -c postgres -- pg_dump -Fc -Z 0 -U postgres app"), "{dump}");
    db.pg.psql("app", "DELETE FROM t");
    db.ok(&["db", "restore", "d1"]);
    assert_eq!(
        db.pg.psql("app", "SELECT string_agg(x::text, ',' ORDER BY x) FROM t").trim(),
        "1,2"
    );

    // A database container named neither after the engine nor after the service: kilter knows
    // the names PostgreSQL images use (`postgresql`), and does not fall back to the first
    // container (the exporter).
    with_sidecar("postgresql");
    let mark = db.env.calls().len();
    db.ok(&["db", "snapshot", "d2"]);
    let calls = calls_since(&db.env, mark);
    let dump = plain(calls.iter().find(|c| c.contains("kilter-dump")).expect("dumped"));
    assert!(dump.contains(" -c postgresql -- pg_dump -Fc -Z 0 -U postgres app"), "{dump}");
}

// ---------------------------------------------------------------------------------------------
// Snapshots v2: v1 files, --include, SIGKILL leftovers, prune/pin, shell

/// A v1 snapshot (`NAME.dump` = `pg_dump -Fc` as-is, schema 1 metadata) still lists and restores,
/// streamed from the file (`< NAME.dump`), after its checksum is verified.
#[test]
fn a_v1_dump_still_restores() {
    let Some(db) = setup("v1_restore", YAML) else { return };
    db.sql(SEED);
    let original = db.rows();
    std::fs::create_dir_all(db.snapshots()).unwrap();
    let dump = db.snapshots().join("old.dump");
    let out = std::process::Command::new(db.pg.bin().join("pg_dump"))
        .arg("-h")
        .arg(db.pg.socket_dir())
        .args(["-Fc", "-U", "postgres", "shop"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&dump, &out.stdout).unwrap();
    let v1 = serde_json::json!({
        "schema_version": 1, "name": "old", "project": "shop", "engine": "postgres",
        "database": "shop", "user": "postgres", "service": "statefulset/postgres",
        "pod": "postgres-0", "server_version": "15", "created_at": "2026-01-01T00:00:00Z",
        "size": out.stdout.len(), "sha256": sha256_hex(&dump), "kilter_version": "0.1.0"
    });
    std::fs::write(db.meta("old"), v1.to_string()).unwrap();

    let list = db.list_json();
    let s = &list["snapshots"][0];
    assert_eq!(s["name"], "old");
    assert_eq!(s["state"], "complete");
    assert_eq!(s["compression"], serde_json::json!({"method": "none"}));
    assert_eq!(s["databases"][0]["file"], "old.dump");

    db.sql("DELETE FROM items WHERE id > 5");
    let out = db.ok(&["db", "restore", "old"]);
    assert_eq!(db.rows(), original);
    let stderr = plain(&stderr_of(&out));
    assert!(
        stderr.contains(&format!("$ cat {} | KUBECONFIG=", dump.display()))
            && stderr.contains("pg_restore --clean --if-exists --no-owner -f - psql -X -q -v 'ON_ERROR_STOP=1' -U postgres -d shop\n"),
        "a v1 dump goes to pg_restore as it is: {stderr}"
    );

    // One flipped byte is refused before pg_restore, as for v2 files.
    let mut bytes = std::fs::read(&dump).unwrap();
    let i = bytes.len() / 3;
    bytes[i] ^= 0x40;
    std::fs::write(&dump, &bytes).unwrap();
    let mark = db.env.calls().len();
    let out = db.kilter(&["db", "restore", "old"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("is corrupt"), "{}", stderr_of(&out));
    assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains(" exec ")));
}

/// `--include` puts further databases of the same server into the same snapshot (one file each,
/// one metadata), all or nothing; restore brings every one back, creating a missing one.
#[test]
fn include_snapshots_further_databases_all_or_nothing() {
    let Some(db) = setup("include", YAML) else { return };
    db.sql(SEED);
    for (name, rows) in [("auth", "('ann'), ('bob')"), ("analytics", "('x'), ('y'), ('z')")] {
        db.pg.create_db(name);
        db.pg.psql(name, &format!("CREATE TABLE t (v text); INSERT INTO t VALUES {rows}"));
    }
    let t = |name: &str| db.pg.psql(name, "SELECT string_agg(v, ',' ORDER BY v) FROM t");
    let original = db.rows();

    // A missing database: nothing is kept, not even the dumps that succeeded.
    let out = db.kilter(&["db", "snapshot", "bad", "--include", "auth,nosuch"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("nosuch"), "{}", stderr_of(&out));
    assert!(db.files().is_empty(), "all or nothing: {:?}", db.files());
    let out = db.kilter(&["db", "snapshot", "bad", "--include", "a b"]);
    assert_eq!(code(&out), 4, "{}", stderr_of(&out));

    let mark = db.env.calls().len();
    db.ok(&["db", "snapshot", "multi", "--include", "auth,analytics,shop"]);
    let dumps: Vec<String> =
        calls_since(&db.env, mark).into_iter().filter(|c| c.contains("kilter-dump")).collect();
    assert_eq!(dumps.len(), 3, "the configured database is dumped once: {dumps:#?}");
    assert!(dumps[1].ends_with("pg_dump -Fc -Z 0 -U postgres auth"), "{dumps:#?}");
    assert_eq!(
        db.files(),
        ["multi.dump.zst", "multi.json", "multi@analytics.dump.zst", "multi@auth.dump.zst"]
    );
    let meta: Value = serde_json::from_str(&read(db.meta("multi"))).unwrap();
    let dbs = meta["databases"].as_array().unwrap();
    let names: Vec<&str> = dbs.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["shop", "auth", "analytics"]);
    let mut total = 0;
    for d in dbs {
        let p = db.snapshots().join(d["file"].as_str().unwrap());
        assert_eq!(d["sha256"].as_str().unwrap(), sha256_hex(&p), "{d}");
        assert_eq!(d["size"].as_u64().unwrap(), std::fs::metadata(&p).unwrap().len());
        assert!(unzstd(&p).starts_with(b"PGDMP"));
        total += d["size"].as_u64().unwrap();
    }
    assert_eq!(meta["size"].as_u64().unwrap(), total);
    let table = stdout_of(&db.ok(&["db", "list"]));
    assert!(table.contains("shop,auth,analytics"), "{table}");

    db.sql("DELETE FROM items");
    db.pg.psql("auth", "DELETE FROM t");
    db.pg.psql("postgres", "DROP DATABASE analytics WITH (FORCE)");
    let mark = db.env.calls().len();
    db.ok(&["db", "restore", "multi"]);
    assert_eq!(db.rows(), original);
    assert_eq!(t("auth").trim(), "ann,bob");
    assert_eq!(t("analytics").trim(), "x,y,z");
    let calls = calls_since(&db.env, mark);
    assert!(
        calls.iter().any(|c| c.ends_with("-- createdb -U postgres analytics")),
        "the missing database is created: {calls:#?}"
    );
    assert!(!calls.iter().any(|c| c.ends_with("createdb -U postgres auth")), "{calls:#?}");
    let checks = calls.iter().filter(|c| c.ends_with("-tAc 'select 1'")).count();
    assert_eq!(checks, 3, "each database must answer: {calls:#?}");

    // One corrupt file of three: nothing is restored at all.
    let p = db.snapshots().join("multi@analytics.dump.zst");
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    db.sql("DELETE FROM items WHERE id > 100");
    let after = db.rows();
    let mark = db.env.calls().len();
    let out = db.kilter(&["db", "restore", "multi"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("multi@analytics.dump.zst"), "{}", stderr_of(&out));
    assert!(!calls_since(&db.env, mark).iter().any(|c| c.contains(" exec ")));
    assert_eq!(db.rows(), after, "the first database was not touched either");

    // Replaced by a snapshot without `--include`: the included databases' files go with it.
    db.ok(&["db", "snapshot", "multi", "--force"]);
    assert_eq!(db.files(), ["multi.dump.zst", "multi.json"]);
}

/// SIGKILL mid-dump leaves a `.partial`: `db list` shows the snapshot as incomplete, `db rm`
/// removes it, and the next snapshot of that name replaces it without `--force`.
#[test]
fn a_killed_snapshot_is_listed_as_incomplete_and_cleaned_up() {
    let Some(db) = setup("sigkill", YAML) else { return };
    db.sql(SEED);
    db.ok(&["db", "snapshot", "keep"]);
    let kept = std::fs::read(db.dump("keep")).unwrap();
    let kill_during = |name: &str, force: bool| {
        db.env.set_knob("latency_ms", "400");
        let mut args = vec!["db", "snapshot", name];
        if force {
            args.push("--force");
        }
        let mut child = db
            .env
            .kilter_std(&db.dir)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let partial = db.snapshots().join(format!("{name}.dump.zst.partial"));
        assert!(
            crate::support::wait_until(std::time::Duration::from_secs(20), || partial.exists()),
            "the dump started"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        db.env.set_knob("latency_ms", "0");
        assert!(partial.exists(), "SIGKILL leaves the partial file behind");
    };
    kill_during("crash", false);
    kill_during("keep", true);
    kill_during("gone", false);
    assert_eq!(std::fs::read(db.dump("keep")).unwrap(), kept, "the old snapshot is untouched");

    let list = db.list_json();
    let by_name = |n: &str| {
        list["snapshots"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap().clone()
    };
    assert_eq!(by_name("crash")["state"], "incomplete");
    assert_eq!(by_name("crash")["partial"], true);
    assert_eq!(by_name("keep")["state"], "complete", "the old snapshot is intact");
    assert_eq!(by_name("keep")["partial"], true);
    let table = stdout_of(&db.ok(&["db", "list"]));
    let crash = table.lines().find(|l| l.starts_with("crash ")).expect("listed");
    assert!(crash.contains("incomplete"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("keep ") && l.contains("leftover")), "{table}");
    let out = db.kilter(&["db", "restore", "crash"]);
    assert_eq!(code(&out), 1, "an incomplete snapshot never restores: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("cannot be verified"), "{}", stderr_of(&out));

    db.ok(&["db", "rm", "gone"]);
    assert!(!db.files().iter().any(|f| f.starts_with("gone")), "{:?}", db.files());
    db.ok(&["db", "snapshot", "crash"]);
    db.ok(&["db", "snapshot", "keep", "--force"]);
    assert_eq!(
        db.files(),
        ["crash.dump.zst", "crash.json", "keep.dump.zst", "keep.json"],
        "the next snapshot of a name removes its leftovers"
    );
    db.ok(&["db", "restore", "crash"]);
}

fn set_created(db: &Db, name: &str, when: &str) {
    let mut m: Value = serde_json::from_str(&read(db.meta(name))).unwrap();
    m["created_at"] = when.into();
    std::fs::write(db.meta(name), serde_json::to_string(&m).unwrap()).unwrap();
}

/// `db prune --keep N [--older-than D]` never removes a pinned snapshot or the newest one;
/// `db pin`/`db unpin` record the pin in the metadata.
#[test]
fn prune_keeps_pinned_and_newest_snapshots() {
    let Some(db) = setup("prune", YAML) else { return };
    db.sql("CREATE TABLE t (x int)");
    for (i, n) in ["s1", "s2", "s3", "s4", "s5"].iter().enumerate() {
        db.ok(&["db", "snapshot", n]);
        set_created(&db, n, &format!("2026-0{}-01T00:00:00Z", i + 1));
    }
    let out = db.ok(&["db", "pin", "s1"]);
    assert!(stderr_of(&out).contains("Pinned snapshot `s1`"), "{}", stderr_of(&out));
    let meta: Value = serde_json::from_str(&read(db.meta("s1"))).unwrap();
    assert_eq!(meta["pinned"], true);
    db.ok(&["db", "pin", "s5"]);
    assert_eq!(db.list_json()["snapshots"][0]["pinned"], true);

    // Usage and names.
    assert_eq!(code(&db.kilter(&["db", "prune", "--keep", "0"])), 2);
    assert_eq!(code(&db.kilter(&["db", "prune"])), 2);
    assert_eq!(code(&db.kilter(&["db", "prune", "--keep", "1", "--older-than", "3x"])), 2);
    assert_eq!(code(&db.kilter(&["db", "pin", "nope"])), 4);
    assert_eq!(code(&db.kilter(&["db", "pin", "../x"])), 4);
    // A v1 dump without metadata cannot carry a pin; the refusal says what state it is in.
    std::fs::write(db.snapshots().join("old.dump"), b"PGDMP-v1").unwrap();
    let out = db.kilter(&["db", "pin", "old"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(
            "snapshot `old` has no readable metadata (no metadata), so it cannot be pinned"
        ),
        "{}",
        stderr_of(&out)
    );
    std::fs::remove_file(db.snapshots().join("old.dump")).unwrap();

    // --dry-run prints the removals (and a pin's metadata write) and changes nothing.
    let files = db.files();
    let before = read(db.meta("s2"));
    let script = stdout_of(&db.ok(&["--dry-run", "db", "pin", "s2"]));
    assert!(
        script.contains(&format!("> {}) <<'KILTER_EOF'\n{{", db.meta("s2").display())),
        "{script}"
    );
    assert!(script.contains("\"pinned\": true"), "{script}");
    assert_eq!(read(db.meta("s2")), before);
    let out = db.ok(&["--dry-run", "db", "prune", "--keep", "1"]);
    let script = stdout_of(&out);
    assert!(script.contains(&format!("rm -f {}", db.meta("s2").display())), "{script}");
    assert!(!script.contains("s1.json") && !script.contains("s5.json"), "{script}");
    assert_eq!(db.files(), files);

    // Only those older than the cut-off: s2 (2026-02) and s3 (2026-03) are both old.
    let freed: u64 =
        ["s2", "s3"].iter().map(|n| std::fs::metadata(db.dump(n)).unwrap().len()).sum();
    let out = db.ok(&["db", "prune", "--keep", "1", "--older-than", "30d"]);
    let stderr = stderr_of(&out);
    if freed < 1024 {
        assert!(stderr.contains(&format!("Pruned 2 snapshot(s), {freed} B freed")), "{stderr}");
    } else {
        assert!(
            stderr.contains("Pruned 2 snapshot(s), ") && stderr.contains(" KiB freed"),
            "{stderr}"
        );
    }
    let names: Vec<String> =
        db.files().iter().filter_map(|f| f.strip_suffix(".json").map(str::to_string)).collect();
    assert_eq!(names, ["s1", "s4", "s5"], "s4 is the newest unpinned, kept by --keep 1");

    // Unpinned, s1 goes too; the newest (s5, unpinned now) never does.
    db.ok(&["db", "unpin", "s1"]);
    db.ok(&["db", "unpin", "s5"]);
    let out = db.ok(&["db", "prune", "--keep", "1"]);
    assert!(stderr_of(&out).contains("Pruned 2 snapshot(s)"), "{}", stderr_of(&out));
    assert_eq!(db.files(), ["s5.dump.zst", "s5.json"]);
    let out = db.ok(&["db", "prune", "--keep", "1"]);
    assert!(stderr_of(&out).contains("Nothing to prune"), "{}", stderr_of(&out));
    assert_eq!(db.files(), ["s5.dump.zst", "s5.json"]);
}

/// `db shell`: the client in the pod, `-i` always, `-t` only when stdin is a terminal; extra
/// arguments after `--` go to the client; the exit code is the client's.
#[test]
fn shell_runs_the_client_in_the_pod_with_a_tty_only_on_a_terminal() {
    let Some(db) = setup("shell", YAML) else { return };
    let mark = db.env.calls().len();
    let out = db
        .env
        .kilter(&db.dir)
        .args(["db", "shell", "--", "-tAc", "select 40 + 2"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "42\n");
    let calls = calls_since(&db.env, mark);
    assert_eq!(
        calls.last().map(String::as_str),
        Some(
            "kubectl --context kind-kilter-shop exec -i postgres-0 -n shop-dev -- psql -U postgres -d shop -tAc 'select 40 + 2'"
        ),
        "{calls:#?}"
    );
    // stdin reaches the client.
    let mut child = db
        .env
        .kilter_std(&db.dir)
        .args(["db", "shell", "--", "-tA"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"select 'piped';\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout_of(&out), "piped\n", "{}", stderr_of(&out));
    // The client's exit code.
    let out = db
        .env
        .kilter(&db.dir)
        .args(["db", "shell", "--", "-v", "ON_ERROR_STOP=1", "-c", "select nosuch"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));

    let Some(script) = crate::support::script_or_skip(
        "db::shell_runs_the_client_in_the_pod_with_a_tty_only_on_a_terminal (the TTY half)",
    ) else {
        return;
    };
    let mark = db.env.calls().len();
    let kilter = env!("CARGO_BIN_EXE_kilter");
    let mut cmd = crate::support::on_a_terminal(
        script,
        &db.env,
        &db.dir,
        &format!("{kilter} db shell -- -tAc 'select 7'"),
    );
    let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout_of(&out), stderr_of(&out));
    assert!(stdout_of(&out).contains('7'), "{}", stdout_of(&out));
    let calls = calls_since(&db.env, mark);
    assert_eq!(
        calls.last().map(String::as_str),
        Some(
            "kubectl --context kind-kilter-shop exec -i -t postgres-0 -n shop-dev -- psql -U postgres -d shop -tAc 'select 7'"
        ),
        "{calls:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// MySQL/MariaDB (support/mariadb.rs: a real MariaDB server behind the fake `kubectl exec`)

/// A project `shop` with `engine: mariadb` (so service `mariadb`, user `root`), its pod running,
/// and a real MariaDB server holding an empty database `shop`.
struct My {
    env: Env,
    maria: crate::support::mariadb::Maria,
    dir: PathBuf,
}

fn setup_my(test: &str, engine: &str) -> Option<My> {
    let maria = crate::support::mariadb::Maria::start_or_skip(test)?;
    let env = Env::new();
    let yaml = format!("name: shop\ndatabase:\n  engine: {engine}\n");
    let dir = project(&env, "shop", Some(&yaml), false);
    let out = env.kilter(&dir).arg("up").output().unwrap();
    assert!(out.status.success(), "up: {}", stderr_of(&out));
    env.ctl(&["workload", "shop-dev", engine, "--kind", "statefulset", "--image", "mariadb:11.4"]);
    maria.wire(&env);
    maria.create_db("shop");
    Some(My { env, maria, dir })
}

impl My {
    fn kilter(&self, args: &[&str]) -> std::process::Output {
        self.env.kilter(&self.dir).args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.kilter(args);
        assert!(
            out.status.success(),
            "kilter {args:?} failed ({:?}):\n{}",
            out.status.code(),
            stderr_of(&out)
        );
        out
    }
    fn snapshots(&self) -> PathBuf {
        self.env.data_dir("shop").join("snapshots")
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.snapshots())
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
    fn sql(&self, sql: &str) -> String {
        self.maria.sql("shop", sql)
    }
    /// Rows, the routine's answer, the trigger's effect and the event: everything a restore must bring back.
    fn state(&self) -> String {
        let rows =
            self.sql("SELECT id, name, coalesce(note, '<null>'), qty FROM items ORDER BY id");
        let routine = self.sql("SELECT shop_total()");
        let triggers = self.sql(
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = 'shop'",
        );
        let events = self
            .sql("SELECT event_name FROM information_schema.events WHERE event_schema = 'shop'");
        format!("{rows}\n--\n{routine}--\n{triggers}--\n{events}")
    }
}

const MY_SEED: &str = "CREATE TABLE items (id int PRIMARY KEY, name varchar(100) NOT NULL, note text, qty decimal(10,2)) DEFAULT CHARSET=utf8mb4;
INSERT INTO items VALUES (1, 'apple', 'crisp', 1.50), (2, 'brötchen ü', NULL, 2.00), (3, 'quote''s', 'tab\there', 0);
INSERT INTO items SELECT seq, md5(seq), repeat(md5(seq), 4), seq / 7 FROM seq_10_to_2000;
CREATE TABLE audit (item int, at_qty decimal(10,2));
CREATE TRIGGER items_audit AFTER UPDATE ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id, NEW.qty);
CREATE FUNCTION shop_total() RETURNS decimal(20,2) READS SQL DATA RETURN (SELECT sum(qty) FROM items);
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit;";

/// Rows, routines, triggers and events make the round trip through `mariadb-dump` → zstd → kilter
/// → `mariadb`, into a fresh empty database.
#[test]
fn mariadb_round_trip_with_rows_routines_triggers_and_events() {
    let Some(my) = setup_my("mariadb_round_trip", "mariadb") else { return };
    my.sql(MY_SEED);
    let original = my.state();
    assert!(original.lines().count() > 1000, "{}", &original[..200]);

    let mark = my.env.calls().len();
    let out = my.ok(&["db", "snapshot", "m1"]);
    let calls = calls_since(&my.env, mark);
    let calls = plain_all(&calls);
    let tail: Vec<&str> = calls.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "kubectl --context kind-kilter-shop exec mariadb-0 -n shop-dev -- mariadb -u root -N -B -e 'select version()' shop",
            &probe_call("shop", "mariadb-0", "mariadb-dump"),
            "kubectl --context kind-kilter-shop exec mariadb-0 -n shop-dev -- mariadb-dump --single-transaction --routines --triggers --events -u root shop",
        ],
        "{calls:#?}"
    );
    let stderr = stderr_of(&out);
    assert!(stderr.contains("-u root shop | cat > "), "the pod compresses: {stderr}");
    assert_eq!(my.files(), ["m1.json", "m1.sql.zst"]);
    let meta: Value = serde_json::from_str(&read(my.snapshots().join("m1.json"))).unwrap();
    assert_eq!(meta["engine"], "mariadb");
    assert_eq!(meta["user"], "root");
    assert_eq!(meta["service"], "statefulset/mariadb");
    assert!(meta["server_version"].as_str().unwrap().contains("MariaDB"), "{meta}");
    assert_eq!(meta["databases"][0]["format"], "sql");
    let file = my.snapshots().join("m1.sql.zst");
    assert_eq!(meta["sha256"].as_str().unwrap(), sha256_hex(&file));
    let sql = String::from_utf8(unzstd(&file)).unwrap();
    assert!(
        sql.contains("CREATE DEFINER") && sql.contains("TRIGGER"),
        "routines and triggers dumped"
    );
    assert!(sql.trim_end().lines().last().unwrap().starts_with("-- Dump completed"), "whole");

    // A fresh, empty database (destroy → up), then the restore.
    my.maria.recreate_db("shop");
    let mark = my.env.calls().len();
    let out = my.ok(&["db", "restore", "m1"]);
    assert_eq!(my.state(), original, "rows, routine, trigger and event are back");
    my.sql("UPDATE items SET qty = 5 WHERE id = 1");
    assert_eq!(my.sql("SELECT at_qty FROM audit").trim(), "5.00", "the trigger fires");
    let calls = plain_all(&calls_since(&my.env, mark));
    let restore = calls
        .iter()
        .position(|c| c == "kubectl --context kind-kilter-shop exec -i mariadb-0 -n shop-dev -- mariadb -u root shop")
        .unwrap_or_else(|| panic!("restore call: {calls:#?}"));
    assert_eq!(
        calls.get(restore + 1).map(String::as_str),
        Some(
            "kubectl --context kind-kilter-shop exec mariadb-0 -n shop-dev -- mariadb -u root -N -B -e 'select 1' shop"
        ),
        "success only once the server answers"
    );
    assert!(
        stderr_of(&out).contains(&format!("$ cat {} | KUBECONFIG=", file.display())),
        "{}",
        stderr_of(&out)
    );
}

/// The same guarantees as PostgreSQL: a dump that dies part-way leaves nothing and keeps the old
/// snapshot; a flipped byte is refused before `mariadb` runs; `--include` works.
#[test]
fn mariadb_failed_or_corrupt_snapshots_never_reach_the_server() {
    let Some(my) = setup_my("mariadb_atomic", "mariadb") else { return };
    my.sql(MY_SEED);
    my.maria.create_db("auth");
    my.maria.sql("auth", "CREATE TABLE u (n varchar(10)); INSERT INTO u VALUES ('ann')");
    my.ok(&["db", "snapshot", "nightly", "--include", "auth"]);
    assert_eq!(my.files(), ["nightly.json", "nightly.sql.zst", "nightly@auth.sql.zst"]);
    let old: Vec<Vec<u8>> =
        my.files().iter().map(|f| std::fs::read(my.snapshots().join(f)).unwrap()).collect();

    my.env.set_knob("exec_fail_after_bytes", "20000");
    for args in [&["db", "snapshot", "nightly", "--force"][..], &["db", "snapshot", "other"]] {
        let out = my.kilter(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("the partial dump was removed"), "{}", stderr_of(&out));
    }
    my.env.set_knob("exec_fail_after_bytes", "0");
    let now: Vec<Vec<u8>> =
        my.files().iter().map(|f| std::fs::read(my.snapshots().join(f)).unwrap()).collect();
    assert_eq!(my.files(), ["nightly.json", "nightly.sql.zst", "nightly@auth.sql.zst"]);
    assert!(now == old, "the old snapshot is byte-identical");

    let p = my.snapshots().join("nightly@auth.sql.zst");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&p, &bytes).unwrap();
    my.sql("DELETE FROM items");
    let mark = my.env.calls().len();
    let out = my.kilter(&["db", "restore", "nightly"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("is corrupt"), "{}", stderr_of(&out));
    assert!(
        !calls_since(&my.env, mark).iter().any(|c| c.contains(" exec ")),
        "nothing ran in the pod"
    );
    assert_eq!(my.sql("SELECT count(*) FROM items").trim(), "0", "untouched");

    bytes[20] ^= 0x01;
    std::fs::write(&p, &bytes).unwrap();
    my.maria.sql("", "DROP DATABASE auth");
    my.ok(&["db", "restore", "nightly"]);
    assert_eq!(my.sql("SELECT count(*) FROM items").trim(), "1994");
    assert_eq!(
        my.maria.sql("auth", "SELECT n FROM u").trim(),
        "ann",
        "auth recreated and restored"
    );
}

/// `engine: mysql` runs the `mysqldump`/`mysql` names (MariaDB ships them too).
#[test]
fn mysql_engine_uses_mysqldump_and_mysql() {
    let Some(my) = setup_my("mysql_engine", "mysql") else { return };
    my.sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)");
    let mark = my.env.calls().len();
    my.ok(&["db", "snapshot", "s"]);
    my.sql("DELETE FROM t");
    my.ok(&["db", "restore", "s"]);
    assert_eq!(my.sql("SELECT group_concat(x ORDER BY x) FROM t").trim(), "1,2");
    let calls = plain_all(&calls_since(&my.env, mark));
    assert!(calls.iter().any(|c| c.ends_with("exec mysql-0 -n shop-dev -- mysqldump --single-transaction --routines --triggers --events -u root shop")), "{calls:#?}");
    assert!(
        calls.iter().any(|c| c.ends_with("exec -i mysql-0 -n shop-dev -- mysql -u root shop")),
        "{calls:#?}"
    );
    let out = my
        .env
        .kilter(&my.dir)
        .args(["db", "shell", "--", "-N", "-e", "select 6 * 7"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "42\n", "{}", stderr_of(&out));
}

/// Every file under `dir`: relative path → (mode, bytes).
fn tree(dir: &Path) -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let meta = e.metadata().unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        out.insert(name, (meta.permissions().mode() & 0o7777, std::fs::read(e.path()).unwrap()));
    }
    out
}

/// Put the snapshot directory back to `want` exactly.
fn put_back(dir: &Path, want: &std::collections::BTreeMap<String, (u32, Vec<u8>)>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for (name, (mode, bytes)) in want {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
}

/// `db rm`, `db pin`, `db unpin` and `db prune`: the `--dry-run` script, run by `sh`, leaves the
/// snapshot directory exactly as the real command does (docs/dry-run.md).
#[test]
fn snapshot_store_verbs_replay_to_the_same_files() {
    let Some(db) = setup("replay", YAML) else { return };
    db.sql("CREATE TABLE t (x int)");
    for (i, n) in ["s1", "s2", "s3", "s4"].iter().enumerate() {
        db.ok(&["db", "snapshot", n]);
        set_created(&db, n, &format!("2026-0{}-01T00:00:00Z", i + 1));
    }
    db.ok(&["db", "pin", "s1"]);
    // A leftover of an interrupted snapshot, which `db rm` also removes.
    std::fs::write(db.snapshots().join("s9.dump.zst.partial"), b"half").unwrap();
    let dir = db.snapshots();
    for args in [
        &["db", "rm", "s3"][..],
        &["db", "rm", "s9"],
        &["db", "pin", "s2"],
        &["db", "unpin", "s1"],
        &["db", "prune", "--keep", "1"],
    ] {
        let start = tree(&dir);
        let mut dry = vec!["--dry-run"];
        dry.extend(args);
        let script = stdout_of(&db.ok(&dry));
        assert_eq!(tree(&dir), start, "{args:?}: the dry run itself changed something");
        let ran = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env_clear()
            .envs(db.env.vars())
            .env("PATH", format!("{}:/usr/bin:/bin", db.env.bin().display()))
            .current_dir(&db.dir)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            ran.status.success(),
            "{args:?}: the script failed:\n{script}\n{}",
            stderr_of(&ran)
        );
        let replayed = tree(&dir);
        put_back(&dir, &start);
        db.ok(args);
        let real = tree(&dir);
        assert!(replayed != start, "{args:?} changed nothing, so the comparison proves nothing");
        assert_eq!(
            replayed.keys().collect::<Vec<_>>(),
            real.keys().collect::<Vec<_>>(),
            "{args:?}:\n{script}"
        );
        assert!(
            replayed == real,
            "{args:?}: the script's files differ from the real run's:\n{script}"
        );
    }
}

/// A MariaDB pod without zstd (the official image): the dump comes plain and kilter compresses
/// it on the host (`.sql.zst`); the restore decompresses it on the way into the pod.
#[test]
fn mariadb_without_zstd_in_the_pod_sends_plain_sql_that_kilter_compresses() {
    let Some(my) = setup_my("mariadb_without_zstd", "mariadb") else { return };
    my.maria.wire_without_zstd(&my.env);
    my.sql(MY_SEED);
    let original = my.state();
    let mark = my.env.calls().len();
    let out = my.ok(&["db", "snapshot", "p"]);
    let calls = calls_since(&my.env, mark);
    let dump = calls.iter().find(|c| c.contains(" kilter-dump ")).expect("dumped");
    assert!(dump.contains(" kilter-dump none mariadb-dump "), "{dump}");
    assert!(
        stderr_of(&out).contains(&format!("-u root shop | {} > ", zstd_shell())),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(my.files(), ["p.json", "p.sql.zst"]);
    let sql = String::from_utf8(unzstd(&my.snapshots().join("p.sql.zst"))).unwrap();
    assert!(sql.trim_end().lines().last().unwrap().starts_with("-- Dump completed"), "whole");
    my.maria.recreate_db("shop");
    let out = my.ok(&["db", "restore", "p"]);
    assert!(
        stderr_of(&out)
            .contains(&format!("$ zstd -dc {} | ", my.snapshots().join("p.sql.zst").display())),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(my.state(), original);
}
