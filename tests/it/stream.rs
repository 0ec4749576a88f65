//! Every byte across `kubectl exec` (docs/real-tools.md, "kubectl exec streams"): the fake
//! kubectl cuts a stream short and exits 0 (knobs `exec_cut_stdout`, `exec_cut_stdin`), as the
//! real one can, against a REAL PostgreSQL and MariaDB. No cut dump is ever kept as a snapshot,
//! no cut restore stream reaches the restore program, and `destroy` never deletes a cluster
//! after its pre-destroy snapshot was cut.

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::*;
use crate::support::Env;
use crate::support::mariadb::Maria;
use crate::support::pg::Pg;

/// A project `shop` with its database workload, wired to a real server.
struct Proj {
    env: Env,
    dir: PathBuf,
}

impl Proj {
    fn new(yaml: &str, workload: &str, image: &str) -> Proj {
        let env = Env::new();
        let dir = project(&env, "shop", Some(yaml), false);
        let out = env.kilter(&dir).arg("up").output().unwrap();
        assert!(out.status.success(), "up: {}", stderr_of(&out));
        env.ctl(&["workload", "shop-dev", workload, "--kind", "statefulset", "--image", image]);
        Proj { env, dir }
    }
    fn kilter(&self, args: &[&str]) -> std::process::Output {
        self.env.kilter(&self.dir).args(args).output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.kilter(args);
        assert!(out.status.success(), "kilter {args:?}: {}", stderr_of(&out));
        out
    }
    fn snapshots(&self) -> PathBuf {
        self.env.data_dir("shop").join("snapshots")
    }
    /// Every file in the snapshots dir with its bytes.
    fn contents(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(self.snapshots())
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let bytes = std::fs::read(e.path()).unwrap();
                        (e.file_name().to_string_lossy().into_owned(), bytes)
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
    fn meta(&self, name: &str) -> Value {
        let text = std::fs::read_to_string(self.snapshots().join(format!("{name}.json"))).unwrap();
        serde_json::from_str(&text).unwrap()
    }
    /// The bytes of a snapshot's first database as they went through `kubectl exec`: a pod
    /// without zstd sends PostgreSQL's archive compressed by pg_dump itself (stored as it is)
    /// and MySQL/MariaDB's SQL plain (kilter stores it zstd-compressed).
    fn raw(&self, name: &str) -> Vec<u8> {
        let file = self.meta(name)["databases"][0]["file"].as_str().unwrap().to_owned();
        let bytes = std::fs::read(self.snapshots().join(&file)).unwrap();
        if file.ends_with(".zst") { zstd::stream::decode_all(&bytes[..]).unwrap() } else { bytes }
    }
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Two tables whose rows are easy to find in a dump: `a` (rows of `A`s), then `b` (`B`s).
const PG_SEED: &str =
    "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
INSERT INTO a SELECT g, repeat('A', 200) FROM generate_series(1, 400) g;
INSERT INTO b SELECT g, repeat('B', 200) FROM generate_series(1, 400) g;";

/// The byte offset in a `pg_dump -Fc` archive (its data compressed by pg_dump) where table
/// `b`'s data block starts, right after table `a`'s: a block is one byte (1) and the table's
/// dump id (a zero sign byte, then the id's bytes, little-endian), then chunks (a 5-byte length
/// and the compressed bytes); `a`'s block ends with a zero-length chunk (5 zero bytes), as the
/// table of contents before it does.
fn pg_between_tables(raw: &[u8]) -> usize {
    let starts: Vec<usize> = (5..raw.len().saturating_sub(3))
        .filter(|&i| {
            raw[i - 5..i] == [0, 0, 0, 0, 0] && raw[i] == 1 && raw[i + 1] == 0 && raw[i + 2] != 0
        })
        .collect();
    assert_eq!(starts.len(), 2, "the data blocks of a and b: {starts:?}");
    assert_eq!(raw[starts[1] + 2], raw[starts[0] + 2] + 1, "b's dump id follows a's");
    assert!(raw.starts_with(b"PGDMP"));
    starts[1]
}

/// `exec_cut_stdout` values: a share of the dump, or bytes before its end.
fn cuts(raw_len: usize, between: usize) -> Vec<String> {
    vec![
        "30%".to_owned(),
        "60%".to_owned(),
        "97%".to_owned(),
        between.to_string(),
        (raw_len - 1).to_string(),
        "0".to_owned(),
    ]
}

/// A project `shop` (kilter.yaml `yaml`) that is up, whose `postgres` StatefulSet is served by a
/// real PostgreSQL holding database `shop` seeded with [`PG_SEED`]; `None` after reporting `what`
/// skipped when PostgreSQL is not here. The pod's tools are the caller's to wire.
fn seeded(what: &str, yaml: &str) -> Option<(Pg, Proj)> {
    let pg = Pg::start_or_skip(what)?;
    let p = Proj::new(yaml, "postgres", "postgres:15");
    pg.create_db("shop");
    pg.psql("shop", PG_SEED);
    Some((pg, p))
}

/// [`seeded`] with `name: shop`, the pod's tools without zstd, and a first snapshot `name`.
fn snapshotted(what: &str, name: &str) -> Option<(Pg, Proj)> {
    let (pg, p) = seeded(what, "name: shop\n")?;
    pg.wire_without_zstd(&p.env);
    p.ok(&["db", "snapshot", name]);
    Some((pg, p))
}

/// A PostgreSQL dump cut at 30, 60 or 97 %, exactly between two tables' data, one byte short,
/// or at 0, while `kubectl exec` exits 0: `db snapshot` fails with "expected N bytes, received
/// M", keeps nothing, and leaves the snapshot `--force` would replace byte for byte as it was.
#[test]
fn a_postgres_dump_cut_short_is_never_kept() {
    let Some((_pg, p)) = snapshotted("a_postgres_dump_cut_short", "nightly") else { return };
    let raw = p.raw("nightly");
    let before = p.contents();
    let between = pg_between_tables(&raw);
    assert_eq!(p.meta("nightly")["databases"][0]["raw_size"], raw.len() as u64);

    for cut in cuts(raw.len(), between) {
        p.env.set_knob("exec_cut_stdout", &cut);
        for args in [&["db", "snapshot", "nightly", "--force"][..], &["db", "snapshot", "other"]] {
            let out = p.kilter(args);
            let err = stderr_of(&out);
            assert_eq!(code(&out), 1, "cut {cut}, {args:?}: {err}");
            assert!(
                err.contains("the dump of database shop was cut short: expected ")
                    && err.contains(" bytes, received "),
                "cut {cut}: {err}"
            );
            if let Ok(n) = cut.parse::<usize>() {
                assert!(err.contains(&format!("received {n}; nothing was kept")), "{err}");
            }
            let kept = if args.len() == 4 {
                "the existing snapshot `nightly` is unchanged"
            } else {
                "no snapshot `other` was written"
            };
            assert!(err.contains(kept), "cut {cut}: {err}");
            assert!(err.contains("kubectl exec"), "says why: {err}");
            assert_eq!(p.contents(), before, "cut {cut}, {args:?}: nothing changed on disk");
        }
    }
    // The same stream whole (the cut point past its end) is kept.
    p.env.set_knob("exec_cut_stdout", &(raw.len() + 10).to_string());
    p.ok(&["db", "snapshot", "nightly", "--force"]);
    assert_eq!(p.raw("nightly").len(), raw.len());
}

/// `--include` with several databases: the second dump is cut (the first is whole): the
/// snapshot fails and nothing of it is kept, the first database's dump included.
#[test]
fn a_cut_in_the_second_of_several_databases_keeps_nothing() {
    let Some(pg) = Pg::start_or_skip("a_cut_in_the_second_database") else { return };
    let p = Proj::new("name: shop\n", "postgres", "postgres:15");
    pg.wire_without_zstd(&p.env);
    pg.create_db("shop");
    pg.psql("shop", "CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    pg.create_db("audit");
    pg.psql("audit", PG_SEED);
    p.ok(&["db", "snapshot", "both", "--include", "audit"]);
    let meta = p.meta("both");
    let small = meta["databases"][0]["raw_size"].as_u64().unwrap();
    let big = meta["databases"][1]["raw_size"].as_u64().unwrap();
    assert!(small < big / 2, "{small} {big}");
    let before = p.contents();
    // Past the end of shop's dump, inside audit's.
    let cut = (small + big) / 2;
    p.env.set_knob("exec_cut_stdout", &cut.to_string());
    for args in [
        &["db", "snapshot", "both", "--force", "--include", "audit"][..],
        &["db", "snapshot", "other", "--include", "audit"],
    ] {
        let out = p.kilter(args);
        let err = stderr_of(&out);
        assert_eq!(code(&out), 1, "{err}");
        assert!(
            err.contains(&format!(
                "the dump of database audit was cut short: expected {big} bytes, received {cut}"
            )),
            "{err}"
        );
        assert_eq!(p.contents(), before, "{args:?}: nothing kept, `both` byte-identical");
    }
}

/// `destroy` whose pre-destroy snapshot is cut: exit 1, names `--no-snapshot`, deletes nothing.
#[test]
fn destroy_refuses_when_its_pre_destroy_snapshot_is_cut() {
    let Some((pg, p)) =
        seeded("destroy_refuses_when_cut", "name: shop\ndatabase:\n  service: postgres\n")
    else {
        return;
    };
    pg.wire_without_zstd(&p.env);
    p.env.set_knob("exec_cut_stdout", "60%");
    let out = p.kilter(&["destroy", "--yes"]);
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("was cut short: expected "), "{err}");
    assert!(err.contains("--no-snapshot"), "names the way out: {err}");
    assert!(err.contains("was not destroyed"), "{err}");
    assert!(!p.env.calls().iter().any(|c| c.starts_with("kind delete")), "nothing deleted");
    assert_eq!(container_status(&p.env, "kilter-shop-control-plane").as_deref(), Some("running"));
    assert!(p.contents().is_empty(), "no pre-destroy snapshot recorded: {:?}", p.contents());
    // With the stream whole, destroy goes through.
    p.env.set_knob("exec_cut_stdout", "");
    p.ok(&["destroy", "--yes"]);
    assert_eq!(p.contents().len(), 2, "the pre-destroy snapshot and its metadata");
}

/// A restore stream cut at 30 or 60 %, between two tables or one byte short, while `kubectl
/// exec` exits 0: the pod never hands it to pg_restore, the database stays as it was, and
/// `db restore` fails saying how many bytes were expected and arrived.
#[test]
fn a_postgres_restore_stream_cut_short_leaves_the_database_as_it_was() {
    let Some((pg, p)) = snapshotted("a_postgres_restore_cut_short", "base") else { return };
    let raw = p.raw("base");
    let between = pg_between_tables(&raw);
    let state = || {
        pg.psql(
            "shop",
            "SELECT (SELECT count(*) FROM a), (SELECT string_agg(DISTINCT v, ',') FROM b)",
        )
    };
    let original = state();
    pg.psql("shop", "DELETE FROM a WHERE id > 10; UPDATE b SET v = 'changed'");
    let changed = state();
    assert_ne!(changed, original);
    for cut in ["30%", "60%", &between.to_string(), &(raw.len() - 1).to_string()] {
        p.env.set_knob("exec_cut_stdin", cut);
        let out = p.kilter(&["db", "restore", "base"]);
        let err = stderr_of(&out);
        assert_eq!(code(&out), 1, "cut {cut}: {err}");
        assert!(
            err.contains(&format!(
                "the restore stream of database shop was cut short: expected {} bytes, received ",
                raw.len()
            )),
            "cut {cut}: {err}"
        );
        if let Ok(n) = cut.parse::<usize>() {
            // The pod's own count of what reached it.
            assert!(err.contains(&format!("bytes, received {n}")), "cut {cut}: {err}");
        }
        assert!(err.contains("nothing was restored; the database is as it was"), "{err}");
        assert_eq!(state(), changed, "cut {cut}: the database is untouched");
    }
    p.env.set_knob("exec_cut_stdin", "");
    p.ok(&["db", "restore", "base"]);
    assert_eq!(state(), original, "the whole stream restores");
}

const MY_SEED: &str =
    "CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
INSERT INTO a SELECT seq, repeat('A', 200) FROM seq_1_to_400;
INSERT INTO b SELECT seq, repeat('B', 200) FROM seq_1_to_400;";

/// MariaDB: a dump cut anywhere (between two tables too: a prefix that is valid SQL) is never
/// kept; a restore stream cut between two tables (which `mariadb` would apply half of, exit 0)
/// never reaches `mariadb`.
#[test]
fn mariadb_cut_streams_in_both_directions() {
    let Some(maria) = Maria::start_or_skip("mariadb_cut_streams") else { return };
    let p = Proj::new("name: shop\ndatabase:\n  engine: mariadb\n", "mariadb", "mariadb:11.4");
    maria.wire_without_zstd(&p.env);
    maria.create_db("shop");
    maria.sql("shop", MY_SEED);
    p.ok(&["db", "snapshot", "base"]);
    let raw = p.raw("base");
    let text = String::from_utf8_lossy(&raw);
    let between = text.find("--\n-- Table structure for table `b`").expect("b's part");
    assert!(text[..between].contains("INSERT INTO `a` VALUES"), "a's data comes before");
    let before = p.contents();
    for cut in cuts(raw.len(), between) {
        p.env.set_knob("exec_cut_stdout", &cut);
        let out = p.kilter(&["db", "snapshot", "base", "--force"]);
        let err = stderr_of(&out);
        assert_eq!(code(&out), 1, "cut {cut}: {err}");
        assert!(err.contains("was cut short: expected "), "cut {cut}: {err}");
        assert_eq!(p.contents(), before, "cut {cut}: `base` byte-identical");
    }
    p.env.set_knob("exec_cut_stdout", "");

    maria.sql("shop", "DELETE FROM a WHERE id > 10; UPDATE b SET v = 'changed'");
    let state = || {
        maria.sql("shop", "SELECT (SELECT count(*) FROM a), (SELECT count(DISTINCT v) FROM b), (SELECT min(v) FROM b)")
    };
    let changed = state();
    for cut in [between.to_string(), "50%".to_owned(), (raw.len() - 1).to_string()] {
        p.env.set_knob("exec_cut_stdin", &cut);
        let out = p.kilter(&["db", "restore", "base"]);
        let err = stderr_of(&out);
        assert_eq!(code(&out), 1, "cut {cut}: {err}");
        assert!(err.contains("was cut short: expected "), "cut {cut}: {err}");
        assert_eq!(state(), changed, "cut {cut}: nothing applied");
    }
    p.env.set_knob("exec_cut_stdin", "");
    p.ok(&["db", "restore", "base"]);
    assert!(state().starts_with("400\t1\tBBBB"), "{}", state());
}

/// A snapshot taken before kilter recorded `raw_sha256` restores: the size and sha256 the pod
/// checks are computed from the file. A wrong expectation reaches no database.
#[test]
fn a_snapshot_without_raw_sha256_restores_and_a_wrong_one_restores_nothing() {
    let Some((pg, p)) = snapshotted("a_snapshot_without_raw_sha256", "base") else { return };
    let meta_path = p.snapshots().join("base.json");
    let mut meta = p.meta("base");
    let recorded = meta["databases"][0]["raw_sha256"].as_str().expect("recorded").to_owned();
    assert_eq!(recorded.len(), 64);
    let count = || pg.psql("shop", "SELECT count(*) FROM a").trim().to_owned();

    meta["databases"][0].as_object_mut().unwrap().remove("raw_sha256");
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    pg.psql("shop", "DELETE FROM a WHERE id > 10");
    p.ok(&["db", "restore", "base"]);
    assert_eq!(count(), "400", "restored with the computed sha256");

    meta["databases"][0]["raw_sha256"] = Value::from("0".repeat(64));
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    pg.psql("shop", "DELETE FROM a WHERE id > 10");
    let out = p.kilter(&["db", "restore", "base"]);
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains(&format!("with sha256 {recorded}, not {}", "0".repeat(64))), "{err}");
    assert_eq!(count(), "10", "nothing restored");
}

/// The transfer follows what the pod can do (README, "Performance"): with `zstd` in the pod the
/// dump is compressed there and kept as it arrived (`.dump.zst`), and a restore sends the file
/// as it is for the pod to decompress; without it, pg_dump compresses its own archive (`-Z 1`,
/// kept as `.dump`); a zstd snapshot restored into a pod without zstd is decompressed by kilter
/// on the way. Each one round-trips the rows.
#[test]
fn the_transfer_follows_the_pods_tools_and_each_one_round_trips() {
    let Some((pg, p)) = seeded("the_transfer_follows_the_pods_tools", "name: shop\n") else {
        return;
    };
    let count = || pg.psql("shop", "SELECT count(*) FROM b").trim().to_owned();
    let dumps = |mark: usize| -> Vec<String> {
        p.env.calls()[mark..].iter().filter(|c| c.contains(" kilter-dump ")).cloned().collect()
    };
    let restores = |mark: usize| -> Vec<String> {
        p.env.calls()[mark..].iter().filter(|c| c.contains(" kilter-restore ")).cloned().collect()
    };

    pg.wire(&p.env);
    let mark = p.env.calls().len();
    p.ok(&["db", "snapshot", "z"]);
    let d = dumps(mark);
    assert!(
        d.len() == 1 && d[0].ends_with(" kilter-dump zstd pg_dump -Fc -Z 0 -U postgres shop"),
        "{d:#?}"
    );
    let m = p.meta("z");
    assert_eq!(m["databases"][0]["file"], "z.dump.zst");
    assert_eq!(m["compression"], serde_json::json!({"method": "zstd", "level": 1}));
    let file = std::fs::read(p.snapshots().join("z.dump.zst")).unwrap();
    let archive = zstd::stream::decode_all(&file[..]).unwrap();
    assert!(archive.starts_with(b"PGDMP"));
    assert_eq!(m["databases"][0]["raw_size"], archive.len() as u64);
    pg.psql("shop", "DELETE FROM b");
    let mark = p.env.calls().len();
    p.ok(&["db", "restore", "z"]);
    assert_eq!(count(), "400");
    let r = restores(mark);
    assert!(
        r.len() == 1
            && r[0].contains(&format!(" kilter-restore {} ", file.len()))
            && r[0].contains(" zstd pg_restore "),
        "the file as it is, decompressed in the pod: {r:#?}"
    );
    // A cut zstd stream, either way, is caught as any other.
    let before = p.contents();
    p.env.set_knob("exec_cut_stdout", "50%");
    let out = p.kilter(&["db", "snapshot", "z", "--force"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("was cut short: expected "), "{}", stderr_of(&out));
    assert_eq!(p.contents(), before, "z byte-identical, nothing else kept");
    p.env.set_knob("exec_cut_stdout", "");
    pg.psql("shop", "DELETE FROM b");
    p.env.set_knob("exec_cut_stdin", "50%");
    let out = p.kilter(&["db", "restore", "z"]);
    assert_eq!(code(&out), 1, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("was cut short: expected "), "{}", stderr_of(&out));
    assert_eq!(count(), "0", "nothing restored");
    p.env.set_knob("exec_cut_stdin", "");
    p.ok(&["db", "restore", "z"]);
    assert_eq!(count(), "400");

    pg.wire_without_zstd(&p.env);
    let mark = p.env.calls().len();
    p.ok(&["db", "snapshot", "g"]);
    let d = dumps(mark);
    assert!(
        d.len() == 1 && d[0].ends_with(" kilter-dump none pg_dump -Fc -Z 1 -U postgres shop"),
        "{d:#?}"
    );
    let m = p.meta("g");
    assert_eq!(m["databases"][0]["file"], "g.dump");
    assert_eq!(m["compression"], serde_json::json!({"method": "pg_dump-gzip", "level": 1}));
    let file = std::fs::read(p.snapshots().join("g.dump")).unwrap();
    assert!(file.starts_with(b"PGDMP"));
    assert!((file.len() as u64) < m["databases"][0]["raw_size"].as_u64().unwrap() + 1);
    let listed = stdout_of(&p.ok(&["db", "list"]));
    assert!(listed.contains("pg_dump gzip:1"), "{listed}");
    pg.psql("shop", "DELETE FROM b");
    let mark = p.env.calls().len();
    p.ok(&["db", "restore", "g"]);
    assert_eq!(count(), "400");
    let r = restores(mark);
    assert!(
        r.len() == 1
            && r[0].contains(&format!(" kilter-restore {} ", file.len()))
            && r[0].contains(" none pg_restore "),
        "{r:#?}"
    );

    // The zstd snapshot into a pod without zstd: kilter decompresses it on the way.
    pg.psql("shop", "DELETE FROM b");
    let mark = p.env.calls().len();
    let out = p.ok(&["db", "restore", "z"]);
    assert_eq!(count(), "400");
    let r = restores(mark);
    assert!(
        r.len() == 1
            && r[0].contains(&format!(" kilter-restore {} ", archive.len()))
            && r[0].contains(" none pg_restore "),
        "{r:#?}"
    );
    assert!(
        stderr_of(&out)
            .contains(&format!("$ zstd -dc {} | ", p.snapshots().join("z.dump.zst").display())),
        "{}",
        stderr_of(&out)
    );
}

/// A seeded project `shop` whose pod has a pg_dump 16.2 (and no zstd either) that fails at once,
/// with `message` on stderr, when asked for `-Z zstd:1`, and is the real pg_dump otherwise; `None`
/// after reporting `what` skipped when PostgreSQL is not here.
fn seeded_with_pg16_failing_on_zstd(what: &str, message: &str) -> Option<(Pg, Proj)> {
    let (pg, p) = seeded(what, "name: shop\n")?;
    pg.wire_without_zstd(&p.env);
    pod_program(
        &pg,
        &p,
        "pg_dump",
        &format!(
            "case \"$1\" in --version) echo 'pg_dump (PostgreSQL) 16.2'; exit 0;; esac\nfor a in \"$@\"; do [ \"$a\" = zstd:1 ] && {{ echo '{message}' >&2; exit 1; }}; done\nexec {} \"$@\"\n",
            pg.bin().join("pg_dump").display()
        ),
    );
    Some((pg, p))
}

/// A restore whose `pg_restore` fails in the pod fails `db restore` with pg_restore's own words,
/// not the transfer script's `kilter-stream:` report, and leaves the database as it was (the
/// transaction is never committed).
#[test]
fn a_pg_restore_that_fails_shows_its_own_error_and_restores_nothing() {
    let Some((pg, p)) = snapshotted("a_pg_restore_that_fails", "base") else { return };
    pg.psql("shop", "DELETE FROM a WHERE id > 10");
    pod_program(
        &pg,
        &p,
        "pg_restore",
        "cat > /dev/null\necho 'pg_restore: error: could not read from input file: disk quota exceeded' >&2\nexit 1\n",
    );
    let out = p.kilter(&["db", "restore", "base"]);
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains("pg_restore: error: could not read from input file: disk quota exceeded"),
        "{err}"
    );
    let said = err.rsplit("  stderr:\n").next().unwrap_or_default();
    assert!(!said.contains("kilter-stream: "), "the program's words, not the script's: {err}");
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM a").trim(), "10", "nothing restored");
    // A `kubectl exec` that loses the remote exit code (exits 0) does not make it a restore:
    // without the script's `restored` line it is still the failure it was.
    let kubectl =
        wrap_tool(&p.env, "kubectl", "kubectl-exit-0", "*' exec -i '*", "\"$fake\" \"$@\"; exit 0");
    let out = p
        .env
        .kilter(&p.dir)
        .env("KILTER_KUBECTL", &kubectl)
        .args(["db", "restore", "base"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains("pg_restore: error: could not read from input file: disk quota exceeded"),
        "{err}"
    );
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM a").trim(), "10", "nothing restored");
}

/// The pod's `program` is the shell script `body`: the pod's programs (knob `exec_path`) are
/// looked up in a directory of such scripts first, then in PostgreSQL's and the pod's usual
/// tools without zstd.
fn pod_program(pg: &Pg, p: &Proj, program: &str, body: &str) {
    let dir = p.env.root().join("pod-bin");
    std::fs::create_dir_all(&dir).unwrap();
    script(&p.env, &format!("pod-bin/{program}"), body);
    let path = format!(
        "{}:{}:{}",
        dir.display(),
        pg.bin().display(),
        crate::support::pod_tools_without_zstd().display()
    );
    p.env.set_knob("exec_path", &path);
}

/// A pod whose `zstd` writes something that is not zstd (here its input as it is, as a broken
/// or impostor binary might): the stream arrives exactly as the pod counted it, but it does not
/// decompress, so nothing is kept and the snapshot `--force` would replace is unchanged.
#[test]
fn a_pod_zstd_stream_that_does_not_decompress_is_not_kept() {
    let Some((pg, p)) = snapshotted("a_pod_zstd_stream_that_does_not_decompress", "s") else {
        return;
    };
    let before = p.contents();
    pod_program(&pg, &p, "zstd", "exec cat\n");
    let mark = p.env.calls().len();
    let out = p.kilter(&["db", "snapshot", "s", "--force"]);
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    let dump = p.env.calls()[mark..].iter().find(|c| c.contains(" kilter-dump ")).cloned();
    assert!(dump.is_some_and(|d| d.contains(" kilter-dump zstd pg_dump ")), "the pod compresses");
    assert!(err.contains("the dump of database shop arrived ("), "{err}");
    assert!(err.contains("but does not decompress"), "{err}");
    assert!(err.contains("the existing snapshot `s` is unchanged"), "{err}");
    assert!(p.contents() == before, "nothing kept; the old snapshot byte for byte");
}

/// A dump program killed by SIGKILL, as the kernel's OOM killer does (exit 137 through the pod's
/// script and `kubectl exec`): kilter says it was killed, perhaps out of memory, and keeps nothing.
#[test]
fn a_dump_killed_by_sigkill_is_said_to_be_killed() {
    let Some((pg, p)) = seeded("a_dump_killed_by_sigkill", "name: shop\n") else { return };
    pg.wire_without_zstd(&p.env);
    pod_program(
        &pg,
        &p,
        "pg_dump",
        &format!(
            "case \"$1\" in --version) exec {} --version;; esac\nkill -KILL $$\n",
            pg.bin().join("pg_dump").display()
        ),
    );
    let out = p.kilter(&["db", "snapshot", "s"]);
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("(exit status 137)"), "{err}");
    assert!(
        err.contains("pg_dump was killed (out of memory?); the partial dump was removed"),
        "{err}"
    );
    assert!(p.contents().is_empty(), "nothing kept: {:?}", p.contents());
}

/// The check after a restore (`psql -tAc 'select 1'`) counts only when its answer arrives: a
/// `kubectl exec` that exits 0 with its output cut to nothing is no answer, and `db restore`
/// fails instead of reporting success.
#[test]
fn a_restore_check_whose_answer_never_arrives_is_no_success() {
    let Some((_pg, p)) = snapshotted("a_restore_check_whose_answer_never_arrives", "s") else {
        return;
    };
    p.env.set_knob("exec_cut_stdout", "0");
    let mark = p.env.calls().len();
    let out = p.kilter(&["db", "restore", "s"]);
    p.env.set_knob("exec_cut_stdout", "");
    let err = stderr_of(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("the restore finished, but the database does not answer"), "{err}");
    let calls = &p.env.calls()[mark..];
    assert!(calls.last().is_some_and(|c| c.ends_with("-tAc 'select 1'")), "{calls:#?}");
}

/// A PostgreSQL 16+ whose pg_dump was built without zstd refuses `-Z zstd:1` before it writes a
/// byte: kilter takes the next transfer (pg_dump's gzip here, the pod has no zstd) and says so.
#[test]
fn a_pg_dump_that_refuses_zstd_falls_back_before_a_byte_is_kept() {
    // pg_dump 16.2 as pgserver's build is: no zstd (what PostgreSQL prints for it).
    let Some((pg, p)) = seeded_with_pg16_failing_on_zstd(
        "a_pg_dump_that_refuses_zstd",
        "pg_dump: error: invalid compression specification: this build does not support compression with zstd",
    ) else {
        return;
    };

    let mark = p.env.calls().len();
    let out = p.ok(&["-v", "db", "snapshot", "s"]);
    let dumps: Vec<String> =
        p.env.calls()[mark..].iter().filter(|c| c.contains(" kilter-dump ")).cloned().collect();
    assert_eq!(dumps.len(), 2, "{dumps:#?}");
    assert!(
        dumps[0].ends_with(" kilter-dump none pg_dump -Fc -Z zstd:1 -U postgres shop"),
        "{dumps:#?}"
    );
    assert!(
        dumps[1].ends_with(" kilter-dump none pg_dump -Fc -Z 1 -U postgres shop"),
        "{dumps:#?}"
    );
    let err = stderr_of(&out);
    assert!(
        err.contains("pg_dump refused pg_dump zstd:1; dumping with pg_dump gzip:1 instead"),
        "{err}"
    );
    assert_eq!(
        p.meta("s")["compression"],
        serde_json::json!({"method": "pg_dump-gzip", "level": 1})
    );
    let names: Vec<String> = p.contents().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["s.dump", "s.json"]);
    pg.psql("shop", "DELETE FROM b");
    p.ok(&["db", "restore", "s"]);
    assert_eq!(pg.psql("shop", "SELECT count(*) FROM b").trim(), "400");
}

/// A pg_dump that fails before its first byte for another reason than the compression is that
/// failure: no second transfer is tried, and nothing is kept.
#[test]
fn a_pg_dump_that_fails_at_once_otherwise_is_not_retried_with_another_compression() {
    let Some((_pg, p)) = seeded_with_pg16_failing_on_zstd(
        "a_pg_dump_that_fails_at_once_otherwise",
        "pg_dump: error: query failed: ERROR:  permission denied for table b",
    ) else {
        return;
    };
    let mark = p.env.calls().len();
    let out = p.env.kilter(&p.dir).args(["-v", "db", "snapshot", "s"]).output().expect("runs");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied for table b"), "{err}");
    let said = err.rsplit("  stderr:\n").next().unwrap_or_default();
    assert!(!said.contains("kilter-stream: "), "the program's words, not the script's: {err}");
    assert!(!err.contains("instead"), "no fallback: {err}");
    assert!(!err.contains("was killed"), "exit 1 is no kill: {err}");
    let dumps = p.env.calls()[mark..].iter().filter(|c| c.contains(" kilter-dump ")).count();
    assert_eq!(dumps, 1, "one dump, with zstd: {err}");
    assert!(p.contents().is_empty(), "nothing kept: {:?}", p.contents());
}

/// A project whose database holds about 800 KB that does not compress (table `r`), in a pod
/// without zstd, behind a `kubectl exec` held to `mbps` MB/s.
fn slow_dump(what: &str, mbps: &str) -> Option<(Pg, Proj)> {
    let (pg, p) = seeded(what, "name: shop\n")?;
    pg.wire_without_zstd(&p.env);
    pg.psql(
        "shop",
        "CREATE TABLE r AS SELECT g, md5(g::text || random()::text) || md5(random()::text) AS v FROM generate_series(1, 12000) g",
    );
    p.env.set_knob("exec_mbps", mbps);
    Some((pg, p))
}

/// On a terminal, a dump shows how much has arrived and at what rate: through a `kubectl exec`
/// held to 0.2 MB/s, the rate shown is that, not a remainder or a total.
#[test]
fn a_dump_on_a_terminal_shows_the_rate_it_arrives_at() {
    let Some(script) = crate::support::script_or_skip("a dump's progress on a terminal") else {
        return;
    };
    // About 800 KB that does not compress: four seconds at 0.2 MB/s (a rate that grew with the
    // time instead of falling would be out of range by the second second).
    let Some((_pg, p)) = slow_dump("a_dump_on_a_terminal_shows_the_rate", "0.2") else { return };
    let kilter = env!("CARGO_BIN_EXE_kilter");
    // A terminal as wide as a usual window (a new pty has no size, and nothing is drawn then).
    let mut cmd = crate::support::on_a_terminal(
        script,
        &p.env,
        &p.dir,
        &format!("stty cols 200 rows 50; {kilter} db snapshot r"),
    );
    let out = cmd.env("TERM", "xterm").output().expect("script");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    // The spinner's lines: "Dumping database shop from … (pod …): 155.3 KiB (194.1 KiB/s) (1s)".
    let kib = |size: &str| -> Option<f64> {
        let (number, unit) = size.trim().split_once(' ')?;
        let scale = match unit {
            "B" => 1.0 / 1024.0,
            "KiB" => 1.0,
            "MiB" => 1024.0,
            _ => return None,
        };
        Some(number.parse::<f64>().ok()? * scale)
    };
    // (bytes so far, rate) of each line.
    let seen: Vec<(f64, f64)> = shown
        .split(['\r', '\n'])
        .filter(|line| line.contains("Dumping database shop from"))
        .filter_map(|line| {
            let before = &line[..line.find("/s)")?];
            let open = before.rfind('(')?;
            let rate = kib(&before[open + 1..])?;
            let bytes = kib(before[..open].rsplit(": ").next()?)?;
            Some((bytes, rate))
        })
        .collect();
    assert!(!seen.is_empty(), "no progress with a rate: {shown:?}");
    let most = seen.iter().map(|(b, _)| *b).fold(0.0, f64::max);
    assert!(most >= 400.0, "progress shown late in the dump too ({most} KiB): {shown:?}");
    let rates: Vec<f64> = seen.iter().map(|(_, r)| *r).collect();
    for rate in &rates {
        assert!(
            (60.0..=600.0).contains(rate),
            "{rate} KiB/s through a 0.2 MB/s channel: {shown:?}"
        );
    }
}

/// Ctrl-C during a dump that arrives slowly stops it at once: the `kubectl exec` is killed
/// rather than read to its end, kilter exits 130, and nothing is kept.
#[test]
fn ctrl_c_stops_a_slow_dump_at_once() {
    // About 500 KB once pg_dump -Z 1 has compressed it, through 0.05 MB/s: some ten seconds if
    // it were read to its end.
    let Some((_pg, p)) = slow_dump("ctrl_c_stops_a_slow_dump_at_once", "0.05") else { return };
    let child = p
        .env
        .kilter_std(&p.dir)
        .args(["db", "snapshot", "slow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kilter");
    let partial = p.snapshots().join("slow.dump.partial");
    let started =
        crate::support::wait_until(std::time::Duration::from_secs(20), || partial.exists());
    assert!(started, "the dump started");
    // Let some of it arrive.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let t = std::time::Instant::now();
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("waits");
    let took = t.elapsed();
    assert_eq!(code(&out), 130, "{}", stderr_of(&out));
    assert!(
        took < std::time::Duration::from_secs(6),
        "stopped at once, not read to its end: {took:?}"
    );
    assert!(p.contents().is_empty(), "nothing kept");
}
