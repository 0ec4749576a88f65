use super::*;
use crate::exec::Output;

#[test]
fn parses_a_running_node() {
    let c = parse_inspect(include_str!("../../../fixtures/docker/inspect-node-running.json"))
        .expect("parses")
        .expect("present");
    assert_eq!(c.node_state(), NodeState::Running);
    assert_eq!(c.name, "/kilter-shop-control-plane");
    assert_eq!(c.api_port(), Some(41234));
    assert_eq!(c.port_slot(), Some(17));
    assert_eq!(
        c.config.labels.as_ref().and_then(|l| l.get(CLUSTER_LABEL)).map(String::as_str),
        Some("kilter-shop")
    );
}

/// A paused or restarting node has `Running: true` in docker's state, but it is not running
/// for kilter: its status word says what it is.
#[test]
fn a_paused_or_restarting_node_is_not_running() {
    let text = include_str!("../../../fixtures/docker/inspect-node-running.json");
    for (status, flag) in [("paused", "Paused"), ("restarting", "Restarting")] {
        let mut v: serde_json::Value = serde_json::from_str(text).expect("json");
        v[0]["State"]["Status"] = status.into();
        v[0]["State"][flag] = true.into();
        assert_eq!(v[0]["State"]["Running"], true);
        let c = parse_inspect(&v.to_string()).expect("parses").expect("present");
        assert_eq!(c.node_state(), NodeState::NotRunning(status.into()));
    }
}

#[test]
fn parses_an_exited_node_whose_runtime_ports_are_empty() {
    let c = parse_inspect(include_str!("../../../fixtures/docker/inspect-node-exited.json"))
        .expect("parses")
        .expect("present");
    assert_eq!(c.node_state(), NodeState::NotRunning("exited".into()));
    assert_eq!(c.state.exit_code, 137);
    // the API port is still known from HostConfig while stopped
    assert_eq!(c.api_port(), Some(41234));
}

/// While running, the runtime bindings are the ports, each once; a configured binding the runtime
/// does not show (yet) is added, and a configured `0` ("docker picks") is no port.
#[test]
fn host_ports_merge_runtime_and_configured_bindings_each_once() {
    let c = |runtime: &str, configured: &str| -> Container {
        let json = format!(
            r#"[{{"Id":"abc","Name":"/x","State":{{"Status":"running","Running":true}},"Config":{{}},
               "NetworkSettings":{{"Ports":{runtime}}},"HostConfig":{{"PortBindings":{configured}}}}}]"#
        );
        parse_inspect(&json).expect("parses").expect("present")
    };
    let api = r#"{"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"41234"}]}"#;
    assert_eq!(c(api, api).host_ports(), [("6443/tcp".to_owned(), 41234)]);
    let both = r#"{"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"41234"}],
                   "30340/tcp":[{"HostIp":"127.0.0.1","HostPort":"30340"}]}"#;
    assert_eq!(
        c(api, both).host_ports(),
        [("6443/tcp".to_owned(), 41234), ("30340/tcp".to_owned(), 30340)]
    );
    let picked = r#"{"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"0"}]}"#;
    assert_eq!(c("{}", picked).host_ports(), []);
    assert_eq!(c(api, picked).host_ports(), [("6443/tcp".to_owned(), 41234)]);
}

#[test]
fn empty_array_is_absent() {
    assert!(parse_inspect("[]\n").expect("parses").is_none());
    assert!(parse_inspect("").expect("parses").is_none());
    assert!(parse_inspect("{not json").is_err());
}

#[test]
fn daemon_down_is_recognised_in_every_client_version() {
    let newer = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";
    let older = "ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\nerrors pretty printing info\n";
    let perm = "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/v1.47/info\": dial unix /var/run/docker.sock: connect: permission denied\n";
    for s in [newer, older, perm] {
        assert!(daemon_unreachable(s), "{s}");
    }
    assert!(!daemon_unreachable("Error response from daemon: No such container: x"));
    let out = |code, stdout: &str, stderr: &str| Output {
        code: Some(code),
        stdout: stdout.into(),
        stderr: stderr.into(),
        ..Output::default()
    };
    // docker ≤ 28.0: `docker info --format` exits 0 with the error on stderr
    assert!(Docker::check_daemon(&out(0, "\n", newer)).is_err());
    assert!(Docker::check_daemon(&out(1, "", newer)).is_err());
    assert_eq!(Docker::check_daemon(&out(0, "28.2.2\n", "")).ok().as_deref(), Some("28.2.2"));
    // Nor is an empty version, whatever the exit code and stderr say.
    assert!(Docker::check_daemon(&out(0, "\n", "")).is_err());
    // A failing call is no answer, whatever it printed: here the server's error is one the
    // unreachable-daemon test does not know.
    let e = Docker::check_daemon(&out(
        1,
        "28.2.2\n",
        "Error response from daemon: 500 Internal Server Error\n",
    ))
    .expect_err("failed");
    assert!(e.to_string().contains("500 Internal Server Error"), "{e}");
    let e = Docker::check_daemon(&out(1, "", perm)).expect_err("down");
    assert!(e.hint.as_deref().unwrap_or("").contains("docker` group"));
    // docker 20.10 (Debian's docker.io): only a template error, exit 1 (seen on a real client)
    let tmpl = "template: :1:2: executing \"\" at <.ServerVersion>: reflect: indirection through nil pointer to embedded struct field Info\n";
    let e = Docker::check_daemon(&out(1, "\n", tmpl)).expect_err("down");
    assert!(e.to_string().contains("`docker info` got no answer from the daemon"), "{e}");
    // only that template error is read as no answer; other words are docker's own
    for own in [
        "template: :1:2: executing \"\" at <.Bogus>: can't evaluate field Bogus in type types.Info",
        "panic: runtime error: invalid memory address or nil pointer dereference",
    ] {
        let e = daemon_error(&format!("{own}\n"));
        assert!(e.to_string().contains(own), "{e}");
    }
    // the daemon line wins over noise before it
    let e = daemon_error(&format!("WARNING: something\n{newer}"));
    assert!(e.to_string().contains("Cannot connect to the Docker daemon"), "{e}");
}

#[test]
fn parses_ps_ndjson_with_string_labels() {
    let v = parse_ps(include_str!("../../../fixtures/docker/ps-kind.ndjson")).expect("parses");
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].label(CLUSTER_LABEL), Some("kilter-shop"));
    assert_eq!(v[0].state, "running");
    assert_eq!(v[1].label(CLUSTER_LABEL), Some("kind"));
    assert_eq!(v[1].label("nope"), None);
}

// Captured from a real engine by scripts/capture-fixtures.sh (versions in captured-versions.txt).
#[test]
fn parses_captured_real_engine_output() {
    let running =
        parse_inspect(include_str!("../../../fixtures/docker/captured-inspect-running.json"))
            .expect("parses")
            .expect("present");
    assert_eq!(running.node_state(), NodeState::Running);
    assert!(
        running.api_port().is_some_and(|p| p > 0),
        "kind-style 127.0.0.1:0:6443 binding resolved"
    );
    assert_eq!(running.port_slot(), Some(17), "30340 is slot 17's block");
    let exited =
        parse_inspect(include_str!("../../../fixtures/docker/captured-inspect-exited.json"))
            .expect("parses")
            .expect("present");
    assert!(matches!(exited.node_state(), NodeState::NotRunning(ref s) if s == "exited"));
    assert_eq!(exited.port_slot(), Some(17), "bindings stay known while stopped");
    let missing = include_str!("../../../fixtures/docker/captured-inspect-missing.stdout");
    assert!(parse_inspect(missing).expect("parses").is_none());
    let stderr = include_str!("../../../fixtures/docker/captured-inspect-missing.stderr");
    assert!(stderr.to_ascii_lowercase().contains("no such"), "{stderr}");
    for f in [
        include_str!("../../../fixtures/docker/captured-ps-running.ndjson"),
        include_str!("../../../fixtures/docker/captured-ps-exited.ndjson"),
    ] {
        let rows =
            parse_ps(f).expect("ps parses even with non-string values such as Platform: null");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].label(CLUSTER_LABEL), Some("kilter-capture"));
        assert_eq!(rows[0].names, "kilter-capture-control-plane");
    }
}

#[test]
fn stats_lines_in_dockers_json_shape() {
    let rows =
        parse_stats(include_str!("../../../fixtures/docker/stats-kilter.ndjson")).expect("parses");
    assert_eq!(rows.len(), 3);
    let shop = &rows[0];
    assert_eq!(shop.name, "kilter-shop-control-plane");
    assert_eq!(shop.cpu_percent, Some(12.34));
    assert_eq!(shop.memory_bytes, Some(650 * 1024 * 1024));
    // 7.598GiB, rounded by docker to 4 digits
    assert_eq!(shop.memory_limit_bytes, Some(8_158_290_379));
    assert_eq!(shop.memory_percent, Some(8.33));
    // a stopped container named explicitly: zeros
    assert_eq!(rows[1].memory_bytes, Some(0));
    assert_eq!(rows[1].cpu_percent, Some(0.0));
    // no data (`--`): unknown, and the name falls back to the argument
    assert_eq!(rows[2].name, "kilter-api-control-plane");
    assert_eq!((rows[2].cpu_percent, rows[2].memory_bytes), (None, None));
    assert!(parse_stats("{\"CPUPerc\": 3}\n").is_err(), "not docker's shape");
    assert!(parse_stats("").expect("empty").is_empty());
}

#[test]
fn sizes_in_every_unit_docker_prints() {
    for (text, bytes) in [
        ("0B", Some(0)),
        ("512B", Some(512)),
        ("1.5KiB", Some(1536)),
        ("650MiB", Some(681_574_400)),
        ("8GiB", Some(8_589_934_592)),
        ("1.234TiB", Some(1_356_797_348_676)),
        ("12.3MB", Some(12_300_000)),
        ("1.5TB", Some(1_500_000_000_000)),
        ("2PB", Some(2_000_000_000_000_000)),
        ("1kB", Some(1000)),
        ("1e+03B", Some(1000)),
        (" 2GB ", Some(2_000_000_000)),
        ("--", None),
        ("", None),
        ("5 parsecs", None),
        ("MiB", None),
        // 2^64 bytes is one past what a u64 holds; one PiB less fits.
        ("16384PiB", None),
        ("16383PiB", Some(16383 << 50)),
    ] {
        assert_eq!(parse_size(text), bytes, "{text:?}");
    }
    assert_eq!(parse_percent("2.50%"), Some(2.5));
    assert_eq!(parse_percent("250.00%"), Some(250.0));
    for bad in ["--", "", "2.5", "NaN%", "-1%"] {
        assert_eq!(parse_percent(bad), None, "{bad:?}");
    }
}

#[test]
fn kilter_nodes_leave_other_kind_clusters_out() {
    let entries = parse_ps(include_str!("../../../fixtures/docker/ps-kind.ndjson")).expect("ps");
    let nodes = kilter_nodes(&entries);
    assert!(!nodes.is_empty());
    assert!(nodes.iter().all(|n| n.cluster == format!("kilter-{}", n.project)));
    assert!(nodes.iter().all(|n| n.node == format!("kilter-{}-control-plane", n.project)));
    assert!(nodes.windows(2).all(|w| w[0].project <= w[1].project), "sorted");
    let shop = nodes.iter().find(|n| n.project == "shop").expect("shop");
    assert!(shop.running());
}

#[test]
fn stats_command_names_the_nodes() {
    let bin = crate::tools::Bin { display: "docker".into(), path: Some("/usr/bin/docker".into()) };
    let d = Docker { bin: &bin };
    assert_eq!(
        d.stats_cmd(&["kilter-a-control-plane", "kilter-b-control-plane"]).to_string(),
        "docker stats --no-stream --format '{{json .}}' kilter-a-control-plane kilter-b-control-plane"
    );
}

#[test]
fn stats_captured_from_a_real_engine() {
    // docker 28.2.2 client, 20.10.24 daemon: a running node-image container holding an 8 MiB
    // tmpfs ballast, and a created (never started) one named explicitly.
    let rows = parse_stats(include_str!("../../../fixtures/docker/captured-stats.ndjson"))
        .expect("parses");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].name, "kilter-capture-run");
    assert_eq!(rows[0].cpu_percent, Some(0.12));
    let used = rows[0].memory_bytes.expect("memory");
    assert!((8 << 20..9 << 20).contains(&used), "{used}");
    // 23.54GiB; the engine's MemTotal was 25275990016: docker's rounding, not ours
    assert_eq!(rows[0].memory_limit_bytes, Some(25_275_882_537));
    assert_eq!(rows[0].memory_percent, Some(0.04));
    assert_eq!((rows[1].cpu_percent, rows[1].memory_bytes), (Some(0.0), Some(0)));
}

#[test]
fn a_container_lost_while_sampled_is_recognised() {
    // both measured on docker 20.10.24 (and the 28.2.2 client): removed before the call, and
    // removed while `docker stats --no-stream` sampled it
    assert!(stats_lost_a_container("Error response from daemon: No such container: kilter-x\n"));
    assert!(stats_lost_a_container("EOF\n"));
    assert!(!stats_lost_a_container(
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
    ));
    assert!(!stats_lost_a_container("error: unexpected EOF in template\n"));
}

/// `docker run`'s words for an image it could not have, each on its own (a client that pulls
/// quietly, or a daemon's answer alone, has no "Unable to find image" line before it).
#[test]
fn an_image_that_cannot_be_had_is_recognised_by_each_of_dockers_words() {
    for stderr in [
        "Unable to find image 'kilter-router:1' locally\n",
        "docker: Error response from daemon: pull access denied for kilter-router, repository does not exist or may require 'docker login': denied: requested access to the resource is denied.\n",
        "docker: Error response from daemon: manifest for registry:2.8 not found: manifest unknown: manifest unknown.\n",
    ] {
        assert!(image_unavailable(stderr), "{stderr}");
    }
    assert!(!image_unavailable(
        "docker: Error response from daemon: Conflict. The container name \"/x\" is already in use by container \"1\".\n"
    ));
    assert!(!image_unavailable(""));
}
