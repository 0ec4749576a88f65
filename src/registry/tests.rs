use camino::Utf8Path;

use super::*;
use crate::error::{Code, Exit};
use crate::exec::Output;
use crate::tools::docker::Container;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, Exit> {
    Settings::from_lookup(crate::shared::lookup(vars))
}

fn out(code: i32, stdout: &str, stderr: &str) -> Output {
    Output { code: Some(code), stdout: stdout.into(), stderr: stderr.into(), ..Output::default() }
}

#[test]
fn defaults_name_the_registry_and_one_cache_per_upstream() {
    let s = settings(&[]).expect("defaults");
    assert!(s.machine_on);
    assert_eq!((s.image.as_str(), s.preferred_port), ("registry:3", 5001));
    assert_eq!(
        s.names(),
        [
            "kilter-registry",
            "kilter-cache-docker.io",
            "kilter-cache-ghcr.io",
            "kilter-cache-quay.io",
            "kilter-cache-registry.k8s.io"
        ]
    );
    assert_eq!(s.upstreams[0].remote, "https://registry-1.docker.io");
}

#[test]
fn environment_overrides_and_bad_values() {
    let s = settings(&[
        ("KILTER_REGISTRY", "off"),
        ("KILTER_REGISTRY_IMAGE", "kilter-test-registry:latest"),
        ("KILTER_REGISTRY_PORT", "5100"),
        ("KILTER_REGISTRY_PREFIX", "rd1"),
        ("KILTER_CACHE_UPSTREAMS", "docker.io=http://up:5000, example.org=https://example.org"),
    ])
    .expect("valid");
    assert!(!s.machine_on);
    assert_eq!(s.preferred_port, 5100);
    assert_eq!(s.registry_name(), "rd1-registry");
    assert_eq!(s.upstreams[0].remote, "http://up:5000");
    assert_eq!(s.upstreams.len(), 5);
    assert_eq!(s.cache_name(&s.upstreams[4]), "rd1-cache-example.org");
    for bad in [
        ("KILTER_REGISTRY", "maybe"),
        ("KILTER_REGISTRY_PORT", "0"),
        ("KILTER_REGISTRY_PORT", "70000"),
        ("KILTER_REGISTRY_PORT", "-1"),
        ("KILTER_REGISTRY_PREFIX", "Bad Name"),
        ("KILTER_CACHE_UPSTREAMS", "docker.io"),
        ("KILTER_CACHE_UPSTREAMS", "docker.io=ftp://x"),
    ] {
        let err = settings(&[bad]).expect_err(&format!("{bad:?} is refused"));
        assert_eq!(err.code, Code::Invalid, "{bad:?}");
    }
}

#[test]
fn busy_ports_move_to_the_next_free_one() {
    assert_eq!(pick_port(5001, |_| false), Some(5001));
    assert_eq!(pick_port(5001, |p| p < 5003), Some(5003));
    assert_eq!(pick_port(5001, |_| true), None);
    assert_eq!(pick_port(65535, |p| p == 65535), None, "no overflow past 65535");
}

#[test]
fn hosts_files_follow_kinds_recipe() {
    let s = settings(&[]).expect("defaults");
    let files = hosts_files(&s, 5001);
    assert_eq!(files.len(), 5);
    assert_eq!(files[0].node_path(), "/etc/containerd/certs.d/localhost:5001/hosts.toml");
    assert_eq!(files[0].content, "[host.\"http://kilter-registry:5000\"]\n");
    assert_eq!(files[1].node_path(), "/etc/containerd/certs.d/docker.io/hosts.toml");
    assert_eq!(
        files[1].content,
        "server = \"https://registry-1.docker.io\"\n\n[host.\"http://kilter-cache-docker.io:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
    assert_eq!(
        files[4].local_path(Utf8Path::new("/c/shop")),
        "/c/shop/registry/certs.d/registry.k8s.io/hosts.toml"
    );
}

#[test]
fn the_configmap_is_kep_1755() {
    let y = hosting_manifest(5002);
    let v: serde_yaml::Value = serde_yaml::from_str(&y).expect("yaml");
    assert_eq!(v["kind"], "ConfigMap");
    assert_eq!(v["metadata"]["name"], "local-registry-hosting");
    assert_eq!(v["metadata"]["namespace"], "kube-public");
    let value = v["data"]["localRegistryHosting.v1"].as_str().expect("value");
    assert_eq!(value, hosting_value(5002));
    let inner: serde_yaml::Value = serde_yaml::from_str(value).expect("inner yaml");
    assert_eq!(inner["host"], "localhost:5002");
    assert_eq!(inner["help"], "https://kind.sigs.k8s.io/docs/user/local-registry/");
}

#[test]
fn the_hosts_probe_says_what_to_write() {
    let s = settings(&[]).expect("defaults");
    let files = hosts_files(&s, 5001);
    let all: String = files.iter().map(|f| f.content.as_str()).collect();
    assert!(hosts_to_write(&files, &out(0, &all, "")).is_empty(), "all in place");
    assert_eq!(hosts_to_write(&files, &out(0, "x", "")).len(), 5, "changed: rewrite all");
    // GNU cat (kind nodes) and busybox cat name the missing file.
    let rest: String = files[1..].iter().map(|f| f.content.as_str()).collect();
    let gnu = format!("cat: {}: No such file or directory\n", files[0].node_path());
    assert_eq!(hosts_to_write(&files, &out(1, &rest, &gnu)), vec![0]);
    let busybox =
        format!("cat: can't open '{}': No such file or directory\n", files[2].node_path());
    let without2: String = files
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, f)| f.content.as_str())
        .collect();
    assert_eq!(hosts_to_write(&files, &out(1, &without2, &busybox)), vec![2]);
    // The exec failed as a whole: write everything.
    assert_eq!(
        hosts_to_write(
            &files,
            &out(1, "", "Error response from daemon: container x is not running")
        )
        .len(),
        5
    );
}

#[test]
fn summary_line() {
    let s = settings(&[]).expect("defaults");
    let r = rows(&s, &Seen::default());
    assert_eq!(r.len(), 5);
    assert_eq!(summary(&r), "absent, 0/4 caches running");
}

#[test]
fn only_containers_and_volumes_with_kilters_label_are_kilters() {
    let s = settings(&[]).expect("settings");
    let c = |name: &str, labels: &str| -> Container {
        serde_json::from_str(&format!(
            r#"{{"Id":"x","Name":"/{name}","State":{{"Status":"running","Running":true}},"Config":{{"Labels":{labels}}}}}"#
        ))
        .expect("container")
    };
    let mine = c("kilter-registry", r#"{"io.kilter.shared":"registry"}"#);
    let theirs = c("kilter-cache-quay.io", "null");
    let wrong_role = c("kilter-cache-ghcr.io", r#"{"io.kilter.shared":"registry"}"#);
    assert!(is_kilters(&s, &mine));
    assert!(!is_kilters(&s, &theirs));
    assert!(!is_kilters(&s, &wrong_role));
    let seen = Seen::new(vec![mine, theirs, wrong_role]);
    assert_eq!(seen.foreign(&s), vec!["kilter-cache-ghcr.io", "kilter-cache-quay.io"]);
    let e = seen.check(&s).expect_err("in the way");
    assert_eq!(e.code, Code::Failed);
    assert!(
        e.message.starts_with(
            "docker containers kilter-cache-ghcr.io, kilter-cache-quay.io are in the way"
        ),
        "{}",
        e.message
    );
    assert!(Seen::default().check(&s).is_ok());

    let vols = r#"[{"Name":"kilter-registry","Labels":null},{"Name":"kilter-cache-ghcr.io","Labels":{"io.kilter.shared":"cache"}}]"#;
    let parse = crate::tools::docker::parse_volumes;
    assert_eq!(foreign_volumes(&parse(vols).expect("json")), vec!["kilter-registry"]);
    assert_eq!(foreign_volumes(&parse("").expect("none found")), Vec::<String>::new());
    assert!(parse("[").is_err());
}

/// The hint under a failed `docker run` of a shared container follows what docker said.
#[test]
fn a_failed_run_is_hinted_by_what_docker_said() {
    let hint = |stderr: &str| super::machine::run_hint(&out(125, "", stderr), "registry:3");
    let taken = hint(
        "docker: Error response from daemon: Conflict. The container name \"/kilter-registry\" is already in use by container \"4f1c\".",
    );
    assert!(taken.contains("`kilter registry rm` removes it"), "{taken}");
    let pull = hint(
        "Unable to find image 'registry:3' locally\ndocker: Error response from daemon: pull access denied for registry",
    );
    assert!(
        pull.contains("could not get the image registry:3")
            && pull.contains("KILTER_REGISTRY_IMAGE"),
        "{pull}"
    );
    let other = hint("docker: Error response from daemon: something else");
    assert!(other.starts_with("`KILTER_REGISTRY=off`"), "{other}");
}
