//! Time helpers: RFC3339(Nano) UTC strings and the other forms the real tools print (the
//! calendar through `jiff`, as kilter's own `src/time.rs`), Go-style durations and docker's
//! human durations.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// Nanoseconds since the Unix epoch.
pub fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    (now_ns() / 1_000_000) as u64
}

/// The instant `ms` milliseconds from the epoch (the fakes' clock never leaves jiff's range).
fn at_ms(ms: u64) -> Timestamp {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .unwrap_or(Timestamp::MAX)
}

/// "YYYY-MM-DDTHH:MM:SS" for whole seconds since the epoch.
fn base(secs: u64) -> String {
    at_ms(secs.saturating_mul(1000)).strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Go's `time.RFC3339Nano` in UTC: fraction with trailing zeros trimmed, e.g.
/// `2023-05-18T12:44:00.481268157Z`.
pub fn rfc3339_nano(ns: u128) -> String {
    // jiff prints the fraction Go's way: none when zero, else without trailing zeros.
    let t = i128::try_from(ns).ok().and_then(|ns| Timestamp::from_nanosecond(ns).ok());
    t.unwrap_or(Timestamp::MAX).to_string()
}

/// Kubernetes `metav1.Time`: whole seconds, `2024-05-01T10:00:00Z`.
pub fn rfc3339_secs(ms: u64) -> String {
    format!("{}Z", base(ms / 1000))
}

/// Kubernetes `metav1.MicroTime`: `2024-05-01T10:00:00.123456Z`.
pub fn rfc3339_micro(ms: u64) -> String {
    format!("{}.{:06}Z", base(ms / 1000), (ms % 1000) * 1000)
}

/// Go's `time.Time.String()` in UTC at second precision, as docker ps `CreatedAt` prints it:
/// `2024-05-01 10:00:00 +0000 UTC`.
pub fn go_time_string(ms: u64) -> String {
    at_ms(ms / 1000 * 1000).strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string()
}

/// Go's `units.HumanDuration` (docker `Up 5 minutes`, `RunningFor`).
pub fn human_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (ms + 1_800_000) / 3_600_000;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", ms / 3_600_000 / 24 / 365)
}

/// Parse a Go duration (`0`, `500ms`, `30s`, `5m`, `1m30s`, `1h`) into milliseconds.
pub fn parse_go_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Some(total as u64)
}

/// Go's `time.Duration.String()` after rounding to whole seconds (`0s`, `45s`, `5m0s`, `1h0m0s`).
pub fn go_duration_secs(ms: u64) -> String {
    let secs = (ms + 500) / 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// Go's `time.Duration.String()` for whole milliseconds (`0s`, `500ms`, `1.5s`, `2m0s`, `1h0m0s`).
pub fn go_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s_ms) = (ms / 3_600_000, ms % 3_600_000 / 60_000, ms % 60_000);
    let mut secs = format!("{}", s_ms / 1000);
    if s_ms % 1000 != 0 {
        secs = format!("{secs}.{}", format!("{:03}", s_ms % 1000).trim_end_matches('0'));
    }
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// Go's `time.RFC1123Z` in UTC, as `kubectl describe` prints times:
/// `Tue, 01 Dec 2026 04:47:43 +0000`.
pub fn rfc1123z(ms: u64) -> String {
    at_ms(ms / 1000 * 1000).strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// `2024-05-01T10:00:00.123456789Z` (UTC, as docker and the API server print) → ms since the
/// epoch; the zero time and anything up to 1970 → None.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    s.strip_suffix('Z')?;
    let t = s.parse::<Timestamp>().ok()?;
    (t.as_second() > 0).then(|| t.as_millisecond() as u64)
}

/// apimachinery's `duration.HumanDuration` (kubectl's AGE and LAST SEEN columns): `45s`,
/// `3m20s`, `25m`, `4h5m`, `10h`, `3d4h`, `12d`, `2y`.
pub fn kube_human_duration(ms: u64) -> String {
    let seconds = ms / 1000;
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_nano(1_684_413_840_481_268_157), "2023-05-18T12:44:00.481268157Z");
        assert_eq!(rfc3339_nano(1_709_251_200_500_000_000), "2024-03-01T00:00:00.5Z");
        assert_eq!(go_time_string(1_714_557_600_000), "2024-05-01 10:00:00 +0000 UTC");
        assert_eq!(go_duration_secs(300_000), "5m0s");
        assert_eq!(go_duration(1_800_000), "30m0s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(250), "250ms");
        assert_eq!(go_duration(3_600_000 + 90_050), "1h1m30.05s");
        assert_eq!(parse_go_duration("1m30s"), Some(90_000));
        assert_eq!(human_duration(125_000), "2 minutes");
        assert_eq!(rfc1123z(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc1123z(1_796_100_463_000), "Tue, 01 Dec 2026 04:47:43 +0000");
        assert_eq!(kube_human_duration(45_000), "45s");
        assert_eq!(kube_human_duration(119_000), "119s");
        assert_eq!(kube_human_duration(200_000), "3m20s");
        assert_eq!(kube_human_duration(1_500_000), "25m");
        assert_eq!(kube_human_duration(4 * 3_600_000 + 300_000), "4h5m");
        assert_eq!(kube_human_duration(3 * 86_400_000 + 4 * 3_600_000), "3d4h");
    }

    #[test]
    fn calendar_edges() {
        // a leap day, a century that is not a leap year, a second's fraction cut (not rounded)
        assert_eq!(rfc3339_secs(951_782_400_999), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_micro(4_107_542_399_250), "2100-02-28T23:59:59.250000Z");
        assert_eq!(go_time_string(1_709_164_800_999), "2024-02-29 00:00:00 +0000 UTC");
        assert_eq!(rfc1123z(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc3339_nano(1_000_000_010), "1970-01-01T00:00:01.00000001Z");
    }

    #[test]
    fn parses_rfc3339_in_utc() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("2024-05-01T12:00:00+02:00"), None);
        assert_eq!(parse_rfc3339_ms("garbage"), None);
        let ms = 1_700_000_000_123u64;
        let s = rfc3339_nano(u128::from(ms) * 1_000_000 + 456_789);
        assert_eq!(parse_rfc3339_ms(&s), Some(ms));
        assert_eq!(parse_rfc3339_ms("2026-11-23T22:31:31.7Z").map(|m| m % 1000), Some(700));
        assert_eq!(parse_rfc3339_ms(&rfc3339_secs(1_714_557_600_000)), Some(1_714_557_600_000));
    }
}
