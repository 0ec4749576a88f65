use super::*;

#[test]
fn snapshot_names_follow_the_spec() {
    for ok in
        ["a", "20261123-214001", "pre-destroy-20261123-214001", "v1.2_rc-3", "A9", &"x".repeat(64)]
    {
        assert!(validate_name(ok).is_ok(), "{ok:?} should be valid");
    }
    for bad in
        ["", "../x", "a/b", ".hidden", "-x", "_x", "a b", "é", "a\0b", &"x".repeat(65), "..", "."]
    {
        let e = validate_name(bad).expect_err(bad);
        assert_eq!(e.code, Code::Invalid, "{bad:?}");
        assert!(e.hint.as_deref().unwrap_or("").contains("1–64 characters"), "{bad:?}");
    }
}

#[test]
fn byte_counts_read_well() {
    assert_eq!(fmt_bytes(0), "0 B");
    assert_eq!(fmt_bytes(1023), "1023 B");
    assert_eq!(fmt_bytes(1536), "1.5 KiB");
    assert_eq!(fmt_bytes(512 * 1024 * 1024), "512.0 MiB");
}

fn sample(dir: &Utf8Path, name: &str, body: &[u8]) -> Files {
    let files = Files::new(dir, name);
    std::fs::write(&files.dump, body).expect("write dump");
    let (size, sha256, _) = digest(&files.dump).expect("digest");
    let meta = Meta {
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
        size,
        sha256,
        kilter_version: "0.1.0".into(),
    };
    std::fs::write(&files.meta, serde_json::to_string(&meta).expect("json")).expect("write meta");
    files
}

#[test]
fn digest_is_the_sha256_of_the_whole_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = Utf8Path::from_path(tmp.path()).expect("utf8");
    let p = dir.join("x");
    std::fs::write(&p, b"abc").expect("write");
    let (size, sha, head) = digest(&p).expect("digest");
    assert_eq!(size, 3);
    assert_eq!(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(head, b"abc");
    // Larger than the 1 MiB read buffer.
    let big = vec![7u8; (1 << 20) + 5];
    std::fs::write(&p, &big).expect("write");
    let (size, sha, _) = digest(&p).expect("digest");
    assert_eq!(size, big.len() as u64);
    let want: String = Sha256::digest(&big).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha, want);
}

#[test]
fn verify_accepts_the_recorded_file_and_refuses_flipped_truncated_or_unrecorded_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = Utf8Path::from_path(tmp.path()).expect("utf8");
    let body = b"PGDMP\x01\x0f\x00 some archive bytes";
    let files = sample(dir, "good", body);
    assert_eq!(verify(&files, "good").expect("verifies").name, "good");

    let mut flipped = body.to_vec();
    flipped[10] ^= 0x01;
    std::fs::write(&files.dump, &flipped).expect("write");
    let e = verify(&files, "good").expect_err("flipped byte");
    assert_eq!(crate::error::code_of(&e), Code::Failed);
    assert!(e.to_string().contains("is corrupt: the sha256"), "{e}");

    std::fs::write(&files.dump, &body[..body.len() - 3]).expect("write");
    let e = verify(&files, "good").expect_err("truncated");
    assert!(e.to_string().contains("is truncated"), "{e}");

    std::fs::remove_file(&files.meta).expect("rm meta");
    std::fs::write(&files.dump, body).expect("write");
    let e = verify(&files, "good").expect_err("no metadata");
    assert!(e.to_string().contains("cannot be verified"), "{e}");
}

#[test]
fn files_of_a_snapshot() {
    let f = Files::new(Utf8Path::new("/d"), "n");
    assert_eq!(
        (f.dump.as_str(), f.meta.as_str(), f.partial.as_str(), f.meta_tmp.as_str()),
        ("/d/n.dump", "/d/n.json", "/d/n.dump.partial", "/d/.n.json.tmp")
    );
}
