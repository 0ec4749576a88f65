use super::store::{Store, Writer, digest, feed};
use super::*;

fn tmp() -> (tempfile::TempDir, Utf8PathBuf) {
    let t = tempfile::tempdir().expect("tempdir");
    let d = Utf8PathBuf::from_path_buf(t.path().to_path_buf()).expect("utf8");
    (t, d)
}

/// A file that cannot be read (here a directory: `open` works, `read` fails with EISDIR) is an
/// error that names it, not retried as if the read were interrupted.
#[test]
fn digest_of_a_file_that_cannot_be_read_is_an_error() {
    let (_t, dir) = tmp();
    let err = digest(&dir).expect_err("a directory cannot be read");
    assert!(format!("{err:#}").contains(&format!("could not read {dir}")), "{err:#}");
}

#[test]
fn snapshot_names_follow_the_rules() {
    for ok in
        ["a", "20261123-214001", "pre-destroy-20261123-214001", "v1.2_rc-3", "A9", &"x".repeat(64)]
    {
        assert!(validate_name(ok).is_ok(), "{ok:?} should be valid");
    }
    for bad in [
        "",
        "../x",
        "a/b",
        ".hidden",
        "-x",
        "_x",
        "a b",
        "é",
        "a\0b",
        &"x".repeat(65),
        "..",
        ".",
        "a@b",
    ] {
        let e = validate_name(bad).expect_err(bad);
        assert_eq!(e.code, Code::Invalid, "{bad:?}");
        assert!(e.hint.as_deref().unwrap_or("").contains("1–64 characters"), "{bad:?}");
    }
    // The refused name is shown whole up to 70 characters, then cut with `…`.
    let shown = |bad: &str| validate_name(bad).expect_err(bad).message;
    assert_eq!(shown("a/b"), "invalid snapshot name \"a/b\"");
    let long = "y".repeat(70);
    assert_eq!(shown(&long), format!("invalid snapshot name {long:?}"));
    let longer = format!("{long}zz");
    assert_eq!(shown(&longer), format!("invalid snapshot name \"{long}…\""));
    for ok in ["app", "auth_db", "my-db", "a.b", "x$1"] {
        assert!(validate_database(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", ".x", "-x", "a/b", "a b", "a'b", "a`b", &"d".repeat(64)] {
        assert_eq!(validate_database(bad).expect_err(bad).code, Code::Invalid, "{bad:?}");
    }
}

#[test]
fn file_names_and_what_they_belong_to() {
    let z = Compression::Zstd { level: 3 };
    assert_eq!(data_file_name("n", None, "dump", z), "n.dump.zst");
    assert_eq!(data_file_name("n", Some("auth"), "sql", z), "n@auth.sql.zst");
    assert_eq!(data_file_name("n", None, "dump", Compression::None), "n.dump");
    let cases: [(&str, Option<(&str, Piece)>); 19] = [
        ("n.json", Some(("n", Piece::Meta))),
        (".n.json.kilter-tmp.4242", Some(("n", Piece::Partial))),
        (".v1.2.json.kilter-tmp.7", Some(("v1.2", Piece::Partial))),
        (".n.json.kilter-tmp.", None),
        (".n.json.kilter-tmp.42x", None),
        (".n.dump.kilter-tmp.42", None),
        ("n.dump", Some(("n", Piece::Data(None)))),
        ("n.dump.zst", Some(("n", Piece::Data(None)))),
        ("v1.2.sql.zst", Some(("v1.2", Piece::Data(None)))),
        ("n@auth.dump.zst", Some(("n", Piece::Data(Some("auth".into()))))),
        ("n.dump.partial", Some(("n", Piece::Partial))),
        ("n@a.sql.zst.partial", Some(("n", Piece::Partial))),
        (".n.json.tmp", Some(("n", Piece::Partial))),
        ("a.dump.dump.zst", Some(("a.dump", Piece::Data(None)))),
        ("n.txt", None),
        (".hidden.dump", None),
        ("n@.dump", None),
        ("x@y@z.dump", None),
        ("notes.partial", None),
    ];
    for (file, want) in cases {
        let got = classify(file);
        let want = want.map(|(n, p)| (n.to_owned(), p));
        assert_eq!(got, want, "{file}");
    }
}

fn meta_v2(name: &str, files: Vec<DbFile>) -> Meta {
    Meta {
        schema_version: SCHEMA_VERSION,
        name: name.into(),
        project: "shop".into(),
        engine: "postgres".into(),
        database: "shop".into(),
        user: "postgres".into(),
        service: "statefulset/postgres".into(),
        pod: "postgres-0".into(),
        server_version: "15.18".into(),
        created_at: "2026-11-23T21:40:01Z".into(),
        size: files.iter().map(|f| f.size).sum(),
        sha256: files.first().map(|f| f.sha256.clone()).unwrap_or_default(),
        kilter_version: "0.1.0".into(),
        compression: Compression::Zstd { level: 3 },
        databases: files,
        pinned: false,
    }
}

/// Write `body` compressed as `file` and return its record.
fn put(dir: &Utf8Path, file: &str, db: &str, body: &[u8]) -> DbFile {
    let f = store::create_partial(&dir.join(file)).expect("create");
    let mut w = Writer::new(f, Store::Compress(3)).expect("writer");
    w.write(body).expect("write");
    let written = w.finish().expect("finish");
    DbFile {
        name: db.into(),
        file: file.into(),
        format: "pg_dump -Fc".into(),
        compression: Compression::Zstd { level: 3 },
        size: written.size,
        sha256: written.sha256,
        raw_size: Some(written.raw_size),
        raw_sha256: Some(written.raw_sha256),
    }
}

#[test]
fn the_writer_compresses_hashes_and_keeps_the_edges_and_feed_gives_the_bytes_back() {
    let (_t, dir) = tmp();
    // Several MiB in odd-sized chunks, compressible and not.
    let mut body = Vec::new();
    let mut x: u32 = 1;
    for i in 0..3_000_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        body.push(if i % 2 == 0 { (x & 0xff) as u8 } else { b'a' });
    }
    body[..5].copy_from_slice(b"PGDMP");
    let path = dir.join("s.dump.zst");
    let mut w = Writer::new(store::create_partial(&path).expect("create"), Store::Compress(3))
        .expect("writer");
    for chunk in body.chunks(77_777) {
        w.write(chunk).expect("write");
    }
    assert_eq!(w.received(), body.len() as u64);
    let written = w.finish().expect("finish");
    assert_eq!(written.raw_size, body.len() as u64);
    assert!(written.head.starts_with(b"PGDMP"));
    // The last 128 bytes exactly, whatever the size of the writes (memory stays flat).
    assert_eq!(written.tail, body[body.len() - 128..]);
    assert_eq!(written.head, body[..128]);
    assert!(written.size < body.len() as u64, "compressed: {}", written.size);
    // Expected size and sha256 from the file itself (the sha2 crate and the file system, not
    // kilter's own hashing); the integration tests check kilter's against the real `sha256sum`.
    let on_disk = std::fs::read(&path).expect("read");
    let sha: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&on_disk).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!((written.size, written.sha256.as_str()), (on_disk.len() as u64, sha.as_str()));
    assert_eq!(digest(&path).expect("digest"), (on_disk.len() as u64, sha));
    // The file is a standard zstd frame.
    let mut back = Vec::new();
    feed(&path, Compression::Zstd { level: 3 }, &mut back).expect("feed");
    assert!(back == body, "round trip");
    let std_decoded =
        zstd::stream::decode_all(std::fs::File::open(&path).expect("open")).expect("decode_all");
    assert!(std_decoded == body);

    // Stored as-is.
    let plain = dir.join("p.dump");
    let mut w =
        Writer::new(store::create_partial(&plain).expect("c"), Store::AsIs).expect("writer");
    w.write(b"abc").expect("write");
    let written = w.finish().expect("finish");
    assert_eq!(
        (written.size, written.sha256.as_str()),
        (3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(written.tail, b"abc");
    assert_eq!((written.wire_size, written.raw_size), (3, 3));
    assert_eq!(written.wire_sha256, written.sha256);
    // A short write, then a long one: the head is still the first 128 bytes, no more.
    let mut w =
        Writer::new(store::create_partial(&plain).expect("c"), Store::AsIs).expect("writer");
    w.write(&body[..10]).expect("write");
    w.write(&body[10..310]).expect("write");
    let written = w.finish().expect("finish");
    assert_eq!(written.head, body[..128]);
    assert_eq!(written.tail, body[310 - 128..310]);

    // A zstd frame from the pod: stored as it arrived, its contents checked and hashed.
    let framed = zstd::stream::encode_all(&body[..], 1).expect("encode");
    let pod = dir.join("z.dump.zst");
    let mut w = Writer::new(store::create_partial(&pod).expect("c"), Store::AsIsZstd).expect("w");
    for chunk in framed.chunks(1000) {
        w.write(chunk).expect("write");
    }
    let written = w.finish().expect("finish");
    assert!(std::fs::read(&pod).expect("read") == framed, "stored as it arrived");
    assert_eq!((written.wire_size, written.size), (framed.len() as u64, framed.len() as u64));
    assert_eq!(written.raw_size, body.len() as u64);
    let raw_sha: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(written.raw_sha256, raw_sha);
    assert!(written.head.starts_with(b"PGDMP"));
    // A frame cut short, or bytes that are no zstd at all, do not pass.
    for bad in [&framed[..framed.len() - 7], &b"PGDMP not zstd"[..]] {
        let mut w =
            Writer::new(store::create_partial(&pod).expect("c"), Store::AsIsZstd).expect("w");
        w.write(bad).expect("write");
        let e = w.finish().expect_err("undecodable");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
    }
}

#[test]
fn the_probe_is_read_and_the_transfer_follows_what_the_pod_can_do() {
    use engine::{Engine, PodTools, Transfer, parse_probe};
    assert_eq!(
        parse_probe("pg_dump (PostgreSQL) 17.5 (Debian 17.5-1.pgdg120+1)\nkilter-probe: zstd\n"),
        PodTools { dump_major: Some(17), zstd: true }
    );
    assert_eq!(
        parse_probe("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
        PodTools { dump_major: Some(15), zstd: false }
    );
    assert_eq!(
        parse_probe(
            "mariadb-dump from 11.4.2-MariaDB, client 10.19 for debian-linux-gnu (x86_64)\n"
        ),
        PodTools { dump_major: Some(11), zstd: false }
    );
    assert_eq!(parse_probe(""), PodTools::default());
    assert_eq!(parse_probe("kilter-probe: zstd\n"), PodTools { dump_major: None, zstd: true });
    let pod = |m: Option<u32>, z: bool| PodTools { dump_major: m, zstd: z };
    let pg = Engine::Postgres;
    assert_eq!(Transfer::choose(pg, &pod(Some(17), false)), Transfer::ArchiveZstd);
    assert_eq!(Transfer::choose(pg, &pod(Some(16), true)), Transfer::ArchiveZstd);
    assert_eq!(Transfer::choose(pg, &pod(Some(15), true)), Transfer::PodZstd);
    assert_eq!(Transfer::choose(pg, &pod(Some(15), false)), Transfer::ArchiveGzip);
    assert_eq!(Transfer::choose(pg, &pod(None, false)), Transfer::ArchiveGzip);
    assert_eq!(Transfer::choose(Engine::Mysql, &pod(Some(8), true)), Transfer::PodZstd);
    assert_eq!(Transfer::choose(Engine::Mariadb, &pod(Some(11), false)), Transfer::Raw);
    assert_eq!(Transfer::ArchiveZstd.fallback(&pod(Some(16), true)), Some(Transfer::PodZstd));
    assert_eq!(Transfer::ArchiveZstd.fallback(&pod(Some(16), false)), Some(Transfer::ArchiveGzip));
    assert_eq!(Transfer::ArchiveGzip.fallback(&pod(Some(16), false)), None);
    assert_eq!(Transfer::ArchiveZstd.stored().label(), "pg_dump zstd:1");
    assert!(Transfer::ArchiveGzip.stored().is_program_input());
    assert!(!Transfer::PodZstd.stored().is_program_input());
}

#[test]
fn a_corrupt_compressed_file_is_an_error_from_feed() {
    let (_t, dir) = tmp();
    let f = put(&dir, "c.dump.zst", "shop", &vec![b'z'; 1 << 20]);
    let path = dir.join(&f.file);
    let mut bytes = std::fs::read(&path).expect("read");
    let i = bytes.len() / 2;
    bytes[i] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let e = feed(&path, f.compression, &mut std::io::sink()).expect_err("corrupt");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("does not decompress"), "{e}");
}

#[test]
fn verify_accepts_the_recorded_files_and_refuses_flipped_truncated_or_missing_ones() {
    let (_t, dir) = tmp();
    let a = put(&dir, "good.dump.zst", "shop", b"PGDMP first database");
    let b = put(&dir, "good@auth.dump.zst", "auth", b"PGDMP second database");
    let meta = meta_v2("good", vec![a, b.clone()]);
    verify(&dir, &meta).expect("verifies");

    let p = dir.join(&b.file);
    let good = std::fs::read(&p).expect("read");
    let mut flipped = good.clone();
    flipped[good.len() - 2] ^= 0x01;
    std::fs::write(&p, &flipped).expect("write");
    let e = verify(&dir, &meta).expect_err("flipped");
    assert_eq!(crate::error::code_of(&e), Code::Failed);
    assert!(e.to_string().contains("is corrupt: the sha256"), "{e}");
    assert!(e.to_string().contains("good@auth.dump.zst"), "names the file: {e}");

    std::fs::write(&p, &good[..good.len() - 1]).expect("write");
    assert!(verify(&dir, &meta).expect_err("truncated").to_string().contains("is truncated"));
    std::fs::remove_file(&p).expect("rm");
    assert!(verify(&dir, &meta).expect_err("missing").to_string().contains("is missing"));
    // A file that is there but cannot be looked at (a symlink to itself) is not called missing:
    // the error says what went wrong with it.
    std::os::unix::fs::symlink(&b.file, &p).expect("symlink");
    let e = format!("{:#}", verify(&dir, &meta).expect_err("loop"));
    assert!(e.contains("could not stat") && e.contains("good@auth.dump.zst"), "{e}");
    assert!(!e.contains("is missing"), "{e}");
}

#[test]
fn v1_metadata_reads_as_one_uncompressed_dump_and_newer_or_foreign_files_are_refused() {
    let v1 = r#"{"schema_version":1,"name":"old","project":"shop","engine":"postgres","database":"shop","user":"postgres","service":"statefulset/postgres","pod":"postgres-0","server_version":"15.18","created_at":"2026-11-23T21:40:01Z","size":42,"sha256":"ab","kilter_version":"0.1.0"}"#;
    let m = Meta::parse(v1).expect("v1 reads");
    assert_eq!(m.compression, Compression::None);
    assert!(!m.pinned);
    assert_eq!(m.databases.len(), 1);
    let d = &m.databases[0];
    assert_eq!((d.file.as_str(), d.size, d.sha256.as_str()), ("old.dump", 42, "ab"));
    // Written back, it is v2 and reads the same.
    let text = m.to_text().expect("text");
    assert!(text.contains("\"schema_version\": 2"), "{text}");
    assert!(text.contains("\"method\": \"none\""), "{text}");
    assert_eq!(Meta::parse(&text).expect("v2 reads"), Meta { schema_version: 2, ..m.clone() });

    let newer = v1.replace("\"schema_version\":1", "\"schema_version\":3");
    assert!(format!("{:#}", Meta::parse(&newer).expect_err("v3")).contains("newer"));
    let mut evil = Meta { schema_version: 2, ..m };
    evil.databases[0].file = "../../etc/passwd".into();
    let text = serde_json::to_string(&evil).expect("json");
    assert!(format!("{:#}", Meta::parse(&text).expect_err("foreign")).contains("does not belong"));
}

#[test]
fn entries_report_complete_incomplete_damaged_and_legacy_snapshots() {
    let (_t, dir) = tmp();
    let write_meta = |m: &Meta| {
        std::fs::write(dir.join(format!("{}.json", m.name)), m.to_text().expect("t")).expect("w")
    };
    // complete, newest
    let f = put(&dir, "c.dump.zst", "shop", b"PGDMP c");
    let mut m = meta_v2("c", vec![f]);
    m.created_at = "2026-11-25T00:00:00Z".into();
    m.pinned = true;
    write_meta(&m);
    // damaged: its file is gone
    let f = put(&dir, "d.dump.zst", "shop", b"PGDMP d");
    let mut m = meta_v2("d", vec![f]);
    m.created_at = "2026-11-24T00:00:00Z".into();
    write_meta(&m);
    std::fs::remove_file(dir.join("d.dump.zst")).expect("rm");
    // incomplete: a partial left by a SIGKILL
    std::fs::write(dir.join("k.dump.zst.partial"), b"half").expect("w");
    // legacy v1 dump without metadata
    std::fs::write(dir.join("legacy.dump"), b"PGDMP").expect("w");
    // not ours
    std::fs::write(dir.join("README"), b"x").expect("w");

    let all = entries(&dir).expect("entries");
    let got: Vec<(&str, State, bool)> =
        all.iter().map(|e| (e.name.as_str(), e.state, e.pinned)).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    // Newest first (files without metadata date from their mtime, i.e. now).
    let c = got.iter().position(|g| *g == ("c", State::Complete, true)).expect("c");
    let d = got.iter().position(|g| *g == ("d", State::Damaged, false)).expect("d");
    assert_eq!((c, d), (2, 3), "{got:?}");
    let k = all.iter().find(|e| e.name == "k").expect("k");
    assert_eq!((k.state, k.partial, k.size), (State::Incomplete, true, 4));
    assert_eq!(k.files, [dir.join("k.dump.zst.partial")]);
    let l = all.iter().find(|e| e.name == "legacy").expect("legacy");
    assert_eq!((l.state, l.has_metadata), (State::NoMetadata, false));
    let (count, bytes) = stats(&dir);
    assert_eq!(count, 4);
    assert_eq!(bytes, all.iter().map(|e| e.size).sum::<u64>());
    assert!(bytes > 0);
    assert_eq!(stats(&dir.join("missing")), (0, 0));
}

/// The states the other test does not reach: metadata that does not parse, a data file of the
/// wrong size, a data file renamed into place whose metadata was never written (kilter killed
/// between the two: not a v1 dump, though it has no metadata); and where an entry without
/// metadata takes its path and date from.
#[test]
fn entries_tell_unreadable_metadata_a_wrong_size_and_a_renamed_file_without_metadata_apart() {
    let (_t, dir) = tmp();
    let at = |file: &str, secs: u64| {
        let f = std::fs::File::options().write(true).open(dir.join(file)).expect("open");
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .expect("mtime");
    };
    // Metadata that does not parse, beside its data file: damaged, and its path is the data
    // file (not the metadata, which sorts after it).
    put(&dir, "bad.dump.zst", "shop", b"PGDMP bad");
    std::fs::write(dir.join("bad.json"), b"{ not json").expect("w");
    // Valid metadata, but its file holds one byte more than was written: damaged.
    let f = put(&dir, "grown.dump.zst", "shop", b"PGDMP grown");
    std::fs::write(dir.join("grown.json"), meta_v2("grown", vec![f]).to_text().expect("t"))
        .expect("w");
    let mut bytes = std::fs::read(dir.join("grown.dump.zst")).expect("r");
    bytes.push(0);
    std::fs::write(dir.join("grown.dump.zst"), &bytes).expect("w");
    // A data file renamed into place with no metadata and no partial file: incomplete (only a
    // v1 `NAME.dump` is "no metadata"); it dates from its file's mtime.
    put(&dir, "renamed.sql.zst", "shop", b"-- Dump completed");
    at("renamed.sql.zst", 1_700_000_000);
    // An included database's `.dump` alone is no v1 dump either.
    std::fs::write(dir.join("inc@auth.dump"), b"PGDMP").expect("w");
    // A file whose mtime reads as 0 gives no date (0 is what an unreadable mtime reads as).
    std::fs::write(dir.join("epoch.dump.zst.partial"), b"x").expect("w");
    at("epoch.dump.zst.partial", 0);

    let all = entries(&dir).expect("entries");
    let get = |n: &str| all.iter().find(|e| e.name == n).unwrap_or_else(|| panic!("{n}: {all:?}"));
    let bad = get("bad");
    assert_eq!((bad.state, bad.has_metadata), (State::Damaged, false));
    assert_eq!(bad.path, dir.join("bad.dump.zst").as_str());
    assert_eq!(get("grown").state, State::Damaged);
    let renamed = get("renamed");
    assert_eq!((renamed.state, renamed.partial), (State::Incomplete, false));
    assert_eq!(renamed.path, dir.join("renamed.sql.zst").as_str());
    assert_eq!(renamed.created_at.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(get("inc").state, State::Incomplete);
    let epoch = get("epoch");
    assert_eq!((epoch.state, epoch.created_at.as_deref()), (State::Incomplete, None));
}

fn entry_at(name: &str, created: &str, pinned: bool, state: State) -> Entry {
    Entry {
        name: name.into(),
        state,
        created_at: Some(created.into()),
        size: 1,
        database: Some("shop".into()),
        databases: Vec::new(),
        engine: Some("postgres".into()),
        server_version: None,
        sha256: None,
        compression: None,
        pinned,
        path: String::new(),
        has_metadata: true,
        partial: false,
        files: Vec::new(),
        mtime_ns: 0,
    }
}

#[test]
fn prune_keeps_the_newest_the_pinned_and_the_incomplete() {
    let day = |d: u32| format!("2026-11-{d:02}T00:00:00Z");
    // newest first, as entries() sorts them
    let all = vec![
        entry_at("n20", &day(20), true, State::Complete), // newest, pinned
        entry_at("n19", &day(19), false, State::Complete),
        entry_at("n18", &day(18), false, State::Incomplete),
        entry_at("n17", &day(17), true, State::Complete),
        entry_at("n16", &day(16), false, State::Complete),
        entry_at("n15", &day(15), false, State::Complete),
        entry_at("n10", &day(10), false, State::Complete),
    ];
    let names = |v: Vec<&Entry>| v.into_iter().map(|e| e.name.clone()).collect::<Vec<_>>();
    let now = crate::time::parse_rfc3339(&day(21)).expect("now");
    assert_eq!(names(prune_plan(&all, 1, None, now)), ["n16", "n15", "n10"]);
    assert_eq!(names(prune_plan(&all, 2, None, now)), ["n15", "n10"]);
    assert_eq!(names(prune_plan(&all, 9, None, now)), Vec::<String>::new());
    // Only those older than 5 days.
    let five = std::time::Duration::from_secs(5 * 86_400);
    assert_eq!(names(prune_plan(&all, 1, Some(five), now)), ["n15", "n10"]);
    // The newest is kept even when unpinned and --keep would not count it.
    let only = vec![
        entry_at("a", &day(3), false, State::Complete),
        entry_at("b", &day(2), false, State::Complete),
    ];
    assert_eq!(names(prune_plan(&only, 1, None, now)), ["b"]);
    assert_eq!(names(prune_plan(&only, 0, None, now)), ["b"], "never the newest");
}

#[test]
fn engines_build_the_documented_commands() {
    let s = |v: Vec<String>| v.join(" ");
    let pg = engine::Engine::Postgres;
    use engine::Transfer;
    assert_eq!(s(pg.dump_argv("u", "d", Transfer::Raw)), "pg_dump -Fc -Z 0 -U u d");
    assert_eq!(s(pg.dump_argv("u", "d", Transfer::PodZstd)), "pg_dump -Fc -Z 0 -U u d");
    assert_eq!(s(pg.dump_argv("u", "d", Transfer::ArchiveZstd)), "pg_dump -Fc -Z zstd:1 -U u d");
    assert_eq!(s(pg.dump_argv("u", "d", Transfer::ArchiveGzip)), "pg_dump -Fc -Z 1 -U u d");
    assert_eq!(
        s(pg.restore_argv("u", "d")),
        "pg_restore --clean --if-exists --no-owner -f - psql -X -q -v ON_ERROR_STOP=1 -U u -d d"
    );
    assert_eq!(s(pg.check_argv("u", "d")), "psql -U u -d d -tAc select 1");
    assert_eq!(s(pg.shell_argv("u", "d", &["-c".into(), "x".into()])), "psql -U u -d d -c x");
    let my = engine::Engine::Mysql;
    assert_eq!(
        s(my.dump_argv("root", "app", Transfer::PodZstd)),
        "mysqldump --single-transaction --routines --triggers --events -u root app"
    );
    assert_eq!(s(my.restore_argv("root", "app")), "mysql -u root app");
    let ma = engine::Engine::Mariadb;
    assert_eq!(
        s(ma.dump_argv("root", "app", Transfer::Raw)),
        "mariadb-dump --single-transaction --routines --triggers --events -u root app"
    );
    assert_eq!(s(ma.version_argv("root", "app")), "mariadb -u root -N -B -e select version() app");
    assert_eq!(s(ma.shell_argv("root", "app", &[])), "mariadb -u root app");
    assert!(pg.looks_whole(b"PGDMP\x01", b""));
    assert!(!pg.looks_whole(b"pg_dump: error", b""));
    assert!(ma.looks_whole(b"", b"UNLOCK TABLES;\n-- Dump completed on 2026-11-23 21:40:01\n"));
    assert!(!ma.looks_whole(b"", b"INSERT INTO `t` VALUES (1),"));
}

// ---------------------------------------------------------------------------------------------
// The pod's stream reports

use super::engine::{Sent, parse_received, parse_sent, program_stderr};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn the_dump_report_is_the_last_kilter_stream_line() {
    let stderr = format!(
        "pg_dump: warning: x\nkilter-stream: rc=0 tee=0 bytes=1 sha256=00\nkilter-stream: rc=0 tee=0 bytes=123 sha256={SHA}\n"
    );
    assert_eq!(
        parse_sent(&stderr),
        Some(Sent::Report { rc: 0, tee: 0, bytes: 123, sha256: SHA.to_owned() })
    );
    assert_eq!(program_stderr(&stderr), "pg_dump: warning: x\n");
    assert_eq!(parse_sent("kilter-stream: missing tee\n"), Some(Sent::Missing("tee".to_owned())));
    // Missing, cut or garbled reports are no report.
    for bad in [
        String::new(),
        "pg_dump: error\n".to_owned(),
        "kilter-stream: rc=0 tee=0 bytes=12".to_owned(),
        format!("kilter-stream: rc=0 tee=0 bytes= sha256={SHA}"),
        "kilter-stream: rc=0 tee=0 bytes=5 sha256=xyz".to_owned(),
        format!("kilter-stream: rc=0 tee=0 bytes=5 sha256={}", &SHA[..63]),
    ] {
        assert_eq!(parse_sent(&bad), None, "{bad:?}");
    }
}

#[test]
fn the_restore_report_says_what_arrived_and_whether_it_was_restored() {
    let ok = format!("kilter-stream: received bytes=42 sha256={SHA}\nkilter-stream: restored\n");
    assert_eq!(parse_received(&ok), (Some((42, SHA.to_owned())), true));
    let cut = format!("kilter-stream: received bytes=7 sha256={SHA}\n");
    assert_eq!(parse_received(&cut), (Some((7, SHA.to_owned())), false));
    assert_eq!(parse_received("ERROR: relation\n"), (None, false));
}
