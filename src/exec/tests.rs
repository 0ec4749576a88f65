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

fn sh(script: &str) -> Cmd {
    Cmd::new("sh", Utf8Path::new("/bin/sh"), "run a test script").args(["-c", script]).mutate()
}

#[test]
fn stdout_streams_into_kilter_in_chunks() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let mut got = 0usize;
    let mut calls = 0usize;
    let out = runner
        .run_stdout_into(&sh("head -c 3000000 /dev/zero; echo oops >&2"), "zstd > f", &mut |b| {
            got += b.len();
            calls += 1;
            assert!(b.iter().all(|&x| x == 0));
            Ok(())
        })
        .expect("runs");
    assert_eq!((out.code, got), (Some(0), 3_000_000));
    assert!(calls > 1, "streamed, not collected: {calls} call(s)");
    assert_eq!(out.stderr, "oops\n");
    let out = runner.run_stdout_into(&sh("echo x; exit 3"), "cat", &mut |_| Ok(())).expect("runs");
    assert_eq!(out.code, Some(3));
}

#[test]
fn a_failing_sink_kills_the_child_and_is_the_error() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let start = Instant::now();
    let mut seen = 0usize;
    let err = runner
        .run_stdout_into(&sh("exec yes"), "zstd > f", &mut |b| {
            seen += b.len();
            if seen > 1 << 20 { Err(std::io::Error::other("disk full")) } else { Ok(()) }
        })
        .expect_err("the sink failed");
    assert!(format!("{err:#}").contains("disk full"), "{err:#}");
    assert!(start.elapsed() < Duration::from_secs(5), "`yes` was killed");
}

#[test]
fn stdin_is_fed_from_kilter() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let out = runner
        .run_stdin_from(&sh("wc -c"), "zstd -dc f", &mut |w| {
            for _ in 0..50 {
                w.write_all(&[b'x'; 100_000])?;
            }
            Ok(())
        })
        .expect("runs");
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "5000000"));
    // A child that stops reading early is not kilter's error: its exit code tells.
    let out = runner
        .run_stdin_from(&sh("head -c 10 >/dev/null; exit 4"), "src", &mut |w| loop {
            w.write_all(&[b'y'; 65536])?;
        })
        .expect("runs");
    assert_eq!(out.code, Some(4));
}

#[test]
fn a_failing_feed_kills_the_child_before_it_sees_the_end_of_its_input() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let tmp = tempfile::tempdir().expect("tempdir");
    let marker = tmp.path().join("finished");
    let script = format!("cat >/dev/null && touch '{}'", marker.display());
    let err = runner
        .run_stdin_from(&sh(&script), "zstd -dc f", &mut |w| {
            w.write_all(b"half of it")?;
            std::thread::sleep(Duration::from_millis(100));
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "f does not decompress"))
        })
        .expect_err("the feed failed");
    assert!(format!("{err:#}").contains("does not decompress"), "{err:#}");
    assert!(!marker.exists(), "the child never saw a clean end of input");
}

#[test]
fn streaming_lines_render_as_pipelines_and_dry_run_runs_nothing() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::DryRun, &ui);
    let tmp = tempfile::tempdir().expect("tempdir");
    let marker = tmp.path().join("ran");
    let c = sh(&format!("touch '{}'", marker.display()));
    runner.run_stdout_into(&c, "zstd -q > 'a b'", &mut |_| panic!("no data")).expect("printed");
    runner
        .run_stdin_from(&c.clone().cwd("/p"), "zstd -dc x", &mut |_| panic!("no feed"))
        .expect("printed");
    assert!(!marker.exists());
    let runner = Runner::new(Mode::Record(Mutex::new(Recording::default())), &ui);
    runner.run_stdout_into(&c, "cat", &mut |_| Ok(())).expect("recorded");
    assert_eq!(runner.recorded().len(), 1);
}
