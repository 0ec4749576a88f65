//! Golden tests of the workflow commands and the step summary.

use std::time::Duration;

use super::*;

#[test]
fn data_escapes_percent_cr_lf_and_nothing_else() {
    assert_eq!(escape_data("100% done\r\nnext: a, b :: c"), "100%25 done%0D%0Anext: a, b :: c");
    // `%` first, so an escape already in the text is not mistaken for one of ours.
    assert_eq!(escape_data("%0A"), "%250A");
    assert_eq!(escape_data(""), "");
}

#[test]
fn properties_also_escape_colon_and_comma() {
    assert_eq!(escape_property("a:b,c%\r\n"), "a%3Ab%2Cc%25%0D%0A");
    assert_eq!(
        escape_property("kilter ci: tilt ci failed (exit 1)"),
        "kilter ci%3A tilt ci failed (exit 1)"
    );
}

#[test]
fn workflow_commands_are_exact() {
    assert_eq!(group("Cluster kilter-shop"), "::group::Cluster kilter-shop");
    assert_eq!(group("50% of\nit"), "::group::50%25 of%0Ait");
    assert_eq!(END_GROUP, "::endgroup::");
    let stderr = "Error: 100% broken\r\nbuild::step failed\n::warning::not a command";
    let message = format!("$ tilt ci --port 10351\n{stderr}");
    assert_eq!(
        error("kilter ci: tilt ci failed, exit 1", &message),
        "::error title=kilter ci%3A tilt ci failed%2C exit 1::$ tilt ci --port 10351%0AError: 100%25 broken%0D%0Abuild::step failed%0A::warning::not a command"
    );
    // One line whatever the message holds: the runner reads a command per line.
    assert!(!error("t", "a\nb\rc").contains(['\n', '\r']));
}

fn pod(name: &str, ready: &str, status: &str, restarts: u32, age: &str) -> PodRow {
    PodRow {
        name: name.into(),
        ready: ready.into(),
        containers_ready: 0,
        containers: 1,
        status: status.into(),
        restarts,
        age_seconds: Some(120),
        age: age.into(),
    }
}

#[test]
fn summary_of_a_failed_run() {
    let phases = vec![
        Phase {
            name: "cluster".into(),
            status: Status::Ok(None),
            took: Duration::from_millis(12_300),
        },
        Phase {
            name: "tilt ci".into(),
            status: Status::Failed("exit 1".into()),
            took: Duration::from_secs(45),
        },
        Phase {
            name: "artifacts".into(),
            status: Status::Ok(Some("6 in /tmp/a|b".into())),
            took: Duration::from_millis(850),
        },
        Phase {
            name: "destroy".into(),
            status: Status::Skipped("--keep-on-failure".into()),
            took: Duration::ZERO,
        },
    ];
    let report = Report {
        project: "shop",
        namespace: "shop-dev",
        ok: false,
        phases: &phases,
        total: Duration::from_millis(58_150),
        pods: Ok(vec![pod("api-7d9c8b6f5-x2x9q", "0/1", "CrashLoopBackOff", 5, "2m")]),
        artifacts: Some((
            Utf8PathBuf::from("/tmp/art"),
            vec!["kind/".into(), "tilt.log".into(), "odd`name".into()],
        )),
        failure: Some("$ tilt ci\r\nError: ```boom```".into()),
    };
    assert_eq!(
        summary_markdown(&report),
        "### kilter ci: shop — ❌ failed

| phase | result | time |
|---|---|---|
| cluster | ✅ ok | 12.3s |
| tilt ci | ❌ exit 1 | 45.0s |
| artifacts | ✅ 6 in /tmp/a\\|b | 850ms |
| destroy | ➖ skipped: --keep-on-failure | – |
| **total** | | **58.1s** |

**Pods in `shop-dev`**

| pod | ready | status | restarts | age |
|---|---|---|---|---|
| api-7d9c8b6f5-x2x9q | 0/1 | CrashLoopBackOff | 5 | 2m |

**Artifacts** in `/tmp/art`: `kind/`, `tilt.log`, `` odd`name ``

<details><summary>What failed</summary>

````text
$ tilt ci
Error: ```boom```
````

</details>

"
    );
}

#[test]
fn summary_of_a_passed_run_without_pods() {
    let phases = vec![Phase {
        name: "cluster".into(),
        status: Status::Ok(None),
        took: Duration::from_secs(2),
    }];
    let report = Report {
        project: "shop",
        namespace: "shop-dev",
        ok: true,
        phases: &phases,
        total: Duration::from_secs(3),
        pods: Ok(vec![]),
        artifacts: None,
        failure: None,
    };
    let md = summary_markdown(&report);
    assert!(md.starts_with("### kilter ci: shop — ✅ passed\n"), "{md}");
    assert!(md.contains("\nNo pods.\n"), "{md}");
    assert!(!md.contains("Artifacts") && !md.contains("<details>"), "{md}");
    let unknown = Report { pods: Err("no cluster".into()), ..report };
    assert!(summary_markdown(&unknown).contains("Unknown: no cluster"));
}
