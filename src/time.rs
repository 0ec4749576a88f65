//! UTC timestamps through `jiff`: RFC 3339 for logs and records, compact names for snapshots,
//! and the times kubectl and docker print read back.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// The instant `secs` seconds from the epoch, clamped to what `jiff` represents (years
/// -9999 to 9999; kilter only meets times within a few centuries of now).
fn at(secs: i64) -> Timestamp {
    let secs = secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `2026-11-23T21:40:01Z`
pub fn rfc3339(secs: i64) -> String {
    at(secs).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn rfc3339_now() -> String {
    rfc3339(now_secs())
}

/// `20261123-214001` (default snapshot names).
pub fn compact(secs: i64) -> String {
    at(secs).strftime("%Y%m%d-%H%M%S").to_string()
}

/// Parse RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as kubectl and docker print times)
/// into Unix seconds: the whole second the instant falls in (before 1970 too).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = s.parse::<Timestamp>().ok()?;
    Some(t.as_second() - i64::from(t.subsec_nanosecond() < 0))
}

/// Human age like kubectl: `45s`, `12m`, `3h`, `5d`.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s < 172_800 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_470_001), "2026-11-23T21:40:01Z");
        assert_eq!(compact(1_795_470_001), "20261123-214001");
        assert_eq!(compact(0), "19700101-000000");
        // leap days, a century that is not a leap year, and before 1970
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_164_799), "2024-02-28T23:59:59Z");
        assert_eq!(rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(-2_203_891_200), "1900-03-01T00:00:00Z");
        assert_eq!(compact(-62_135_596_800), "00010101-000000");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for t in [0, -1, -2_203_891_200, 951_782_400, 1_795_470_001, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("2023-05-22T20:11:58.662618999Z"), Some(1_684_786_318));
        assert_eq!(parse_rfc3339("2023-05-22T22:11:58+02:00"), Some(1_684_786_318));
        assert_eq!(parse_rfc3339("2023-05-22T18:41:58-01:30"), Some(1_684_786_318));
        // docker's zero time (a container never started)
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Some(-62_135_596_800));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-1));
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(parse_rfc3339(""), None);
    }

    #[test]
    fn ages_like_kubectl() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(600), "10m");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(age(3 * 86_400), "3d");
        // each unit's first and last value, and a clock that went backwards
        assert_eq!(age(-5), "0s");
        assert_eq!(age(119), "119s");
        assert_eq!(age(120), "2m");
        assert_eq!(age(7_199), "119m");
        assert_eq!(age(7_200), "2h");
        assert_eq!(age(172_799), "47h");
        assert_eq!(age(172_800), "2d");
    }
}
