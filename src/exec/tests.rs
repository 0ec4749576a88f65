use super::*;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::new("kubectl", Utf8Path::new("/usr/bin/kubectl"), "test").args(args.iter().copied())
}

fn check(c: &Cmd, expected: &str) {
    assert_eq!(c.to_string(), expected);
}

#[test]
fn renders_plain_words_unquoted() {
    check(
        &cmd(&["get", "pods", "-n", "shop-dev", "-o", "json"]),
        "kubectl get pods -n shop-dev -o json",
    );
}

#[test]
fn quotes_every_shell_metacharacter() {
    let table: &[(&str, &str)] = &[
        ("with space", "'with space'"),
        ("it's", "\"it's\""),
        ("$HOME", "'$HOME'"),
        ("*.yaml", "'*.yaml'"),
        ("{a,b}", "'{a,b}'"),
        ("", "''"),
        ("a;b", "'a;b'"),
        ("`x`", "'`x`'"),
        ("a\"b", "'a\"b'"),
        ("ünïcode", "'ünïcode'"),
        ("--from-literal=k=v", "'--from-literal=k=v'"),
        ("/p/with space/kubeconfig", "'/p/with space/kubeconfig'"),
    ];
    for (arg, want) in table {
        check(&cmd(&[arg]), &format!("kubectl {want}"));
    }
}

#[test]
fn quoted_words_round_trip_through_a_shell_splitter() {
    let args = ["a b", "it's", "$x", "*", "", "{}", "ü", "a\\b", "tab\there", "new\nline"];
    let c = cmd(&args);
    let words = shlex::split(&c.to_string()).expect("splits");
    assert_eq!(words[0], "kubectl");
    assert_eq!(&words[1..], &args.map(String::from));
}

#[test]
fn env_prefix_cwd_and_stdin_file() {
    let c = cmd(&["apply", "-f", "-"])
        .env("KUBECONFIG", "/home/u/.cache/kilter/shop/kubeconfig")
        .env("WEIRD", "a b")
        .cwd("/proj dir")
        .stdin(Stdin::File("/tmp/x y.yaml".into()));
    check(
        &c,
        "cd '/proj dir' && KUBECONFIG=/home/u/.cache/kilter/shop/kubeconfig WEIRD='a b' kubectl apply -f - < '/tmp/x y.yaml'",
    );
}

#[test]
fn secrets_are_redacted_in_args_and_env() {
    let c = cmd(&["create", "secret"])
        .secret_arg("--from-literal=password=hunter2")
        .secret_env("PGPASSWORD", "s3cr3t");
    let line = c.to_string();
    assert_eq!(line, "PGPASSWORD='***' kubectl create secret '***'");
    assert!(!line.contains("hunter2") && !line.contains("s3cr3t"));
}

#[test]
fn redirections_render_as_shell() {
    let c = cmd(&["exec", "db-0", "--", "pg_dump", "-Fc"]);
    assert_eq!(
        c.render_with(Some(&Redirect::StdoutTo("/s/a.dump.partial".into()))),
        "kubectl exec db-0 -- pg_dump -Fc > /s/a.dump.partial"
    );
    let t =
        Cmd::new("tilt", Utf8Path::new("/bin/tilt"), "start tilt").args(["up", "--port", "10351"]);
    assert_eq!(
        t.render_with(Some(&Redirect::AppendBothDetached("/c/tilt.log".into()))),
        "tilt up --port 10351 >> /c/tilt.log 2>&1 &"
    );
}

#[test]
fn nul_bytes_do_not_panic() {
    let line = cmd(&["a\0b"]).to_string();
    assert!(line.starts_with("kubectl "));
}

#[test]
fn tail_keeps_last_non_empty_lines() {
    assert_eq!(tail("a\n\nb\nc\n\n", 2), "b\nc");
    assert_eq!(tail("", 3), "");
}

#[test]
fn record_mode_answers_by_prefix_and_records() {
    let ui = crate::ui::Ui::for_tests();
    let mut rec = Recording::default();
    rec.answer("kubectl get --raw /readyz", 0, "ok", "");
    let r = Runner::new(Mode::Record(Mutex::new(rec)), &ui);
    let out = r.run(&cmd(&["get", "--raw", "/readyz"])).expect("answered");
    assert_eq!(out.stdout, "ok");
    assert!(r.run(&cmd(&["get", "pods"])).is_err(), "unplanned query must fail loudly");
    assert_eq!(r.recorded(), vec!["kubectl get --raw /readyz", "kubectl get pods"]);
}
