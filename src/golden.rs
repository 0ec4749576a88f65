//! Golden files for the unit tests: what kilter renders or writes, kept under `tests/golden/` and
//! compared byte for byte.

use camino::{Utf8Path, Utf8PathBuf};

/// `tests/golden/<sub>` of this checkout.
pub(crate) fn dir(sub: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(sub)
}

/// `got` must be the file at `path`, byte for byte. With `KILTER_BLESS=1` it becomes that file
/// instead (review the diff before committing); otherwise a missing file fails the test.
#[track_caller]
pub(crate) fn check(path: &Utf8Path, got: &str) {
    if std::env::var("KILTER_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("a golden file has a directory"))
            .expect("mkdir");
        std::fs::write(path, got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("{path}: {e} (KILTER_BLESS=1 writes it; review it before committing)")
    });
    assert_eq!(got, want, "{path} differs from what kilter gives now");
}
