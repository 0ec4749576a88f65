use super::*;

fn cmd(args: &[&str]) -> Cmd {
    Cmd::new("kubectl", Some(Utf8Path::new("/usr/bin/kubectl")), "test").args(args.iter().copied())
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
    let t = Cmd::new("tilt", Some(Utf8Path::new("/bin/tilt")), "start tilt")
        .args(["up", "--port", "10351"]);
    assert_eq!(
        t.render_with(Some(&Redirect::AppendBothDetached("/c/tilt.log".into()))),
        if cfg!(target_os = "linux") {
            "{ setsid tilt up --port 10351 >> /c/tilt.log 2>&1 & }"
        } else {
            "{ tilt up --port 10351 >> /c/tilt.log 2>&1 & }"
        }
    );
    let t = t.cwd("/p");
    assert!(
        t.render_with(Some(&Redirect::AppendBothDetached("/c/tilt.log".into())))
            .starts_with("cd /p && { "),
        "only the command goes to the background, so `$!` is its pid"
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
    rec.answer("kubectl get ns", 1, "", "The connection to the server was refused");
    let r = Runner::new(Mode::Record(Mutex::new(rec)), &ui);
    let out = r.run(&cmd(&["get", "--raw", "/readyz"])).expect("answered");
    assert_eq!(out.stdout, "ok");
    // The canned failure comes back whole: code and stderr.
    let out = r.run_unchecked(&cmd(&["get", "ns"])).expect("answered");
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (Some(1), "The connection to the server was refused")
    );
    // An unplanned query fails loudly, as does one shorter than every answer it starts like
    // (an answer is for the commands that start with all of its words).
    for words in [&["get", "pods"][..], &["get", "--raw"]] {
        let err = r.run_unchecked(&cmd(words)).expect_err("unplanned query must fail loudly");
        assert!(err.to_string().contains("no canned answer"), "{words:?}: {err}");
    }
    assert_eq!(
        r.recorded(),
        vec![
            "kubectl get --raw /readyz",
            "kubectl get ns",
            "kubectl get pods",
            "kubectl get --raw"
        ]
    );
}

fn sh_mut(script: &str) -> Cmd {
    Cmd::new("sh", Some(Utf8Path::new("/bin/sh")), "run a test script")
        .args(["-c", script])
        .mutate()
}

#[test]
fn stdout_streams_into_kilter_in_chunks() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let mut got = 0usize;
    let mut calls = 0usize;
    let out = runner
        .run_stdout_into(
            &sh_mut("head -c 3000000 /dev/zero; echo oops >&2"),
            "zstd > f",
            &mut |c| {
                if let Chunk::Data(b) = c {
                    got += b.len();
                    calls += 1;
                    assert!(b.iter().all(|&x| x == 0));
                }
                Ok(())
            },
        )
        .expect("runs");
    assert_eq!((out.code, got), (Some(0), 3_000_000));
    assert!(calls > 1, "streamed, not collected: {calls} call(s)");
    assert_eq!(out.stderr, "oops\n");
    assert!(out.stdout.is_empty(), "the bytes went to the sink only");
    let out =
        runner.run_stdout_into(&sh_mut("echo x; exit 3"), "cat", &mut |_| Ok(())).expect("runs");
    assert_eq!(out.code, Some(3));
}

/// In Record mode the canned stdout goes to the sink, as a real run's would, and not also into
/// the returned `Output` (a caller that read both would see the dump twice).
#[test]
fn record_mode_delivers_stdout_into_the_sink_only() {
    let ui = crate::ui::Ui::for_tests();
    let mut rec = Recording::default();
    rec.answer("sh -c dump", 0, "PGDMP bytes", "");
    let r = Runner::new(Mode::Record(Mutex::new(rec)), &ui);
    let (out, got) = stdout_of(&r, &sh_mut("dump"), "zstd > f").expect("answered");
    assert_eq!((out.code, got.as_slice()), (Some(0), &b"PGDMP bytes"[..]));
    assert_eq!(out.stdout, "");
}

/// The killed child is reaped before the error returns: no zombie is left (PID 1 does not
/// always reap one).
#[test]
fn a_failing_sink_kills_the_child_and_is_the_error() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let dir = tempfile::tempdir().expect("tmp");
    let pid_file = dir.path().join("pid");
    let start = Instant::now();
    let mut seen = 0usize;
    let script = format!("echo $$ > '{}'; exec yes", pid_file.display());
    let err = runner
        .run_stdout_into(&sh_mut(&script), "zstd > f", &mut |c| {
            seen += if let Chunk::Data(b) = c { b.len() } else { 0 };
            if seen > 1 << 20 { Err(std::io::Error::other("disk full")) } else { Ok(()) }
        })
        .expect_err("the sink failed");
    assert!(format!("{err:#}").contains("disk full"), "{err:#}");
    assert!(start.elapsed() < Duration::from_secs(5), "`yes` was killed");
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the killed child (pid {pid}) was reaped"
    );
}

/// The same with a grandchild that keeps the child's stderr open after the child is killed (a
/// `kubectl exec` whose remote side lingers): kilter waits for the child a bounded time, not
/// for the grandchild, and the sink's error is still the error.
#[test]
fn a_failing_sink_is_the_error_at_once_even_when_a_grandchild_holds_stderr() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let start = Instant::now();
    let err = runner
        .run_stdout_into(&sh_mut("sleep 12 & exec yes"), "zstd > f", &mut |c| match c {
            Chunk::Data(_) => Err(std::io::Error::other("disk full")),
            Chunk::Start => Ok(()),
        })
        .expect_err("the sink failed");
    assert!(format!("{err:#}").contains("disk full"), "{err:#}");
    assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
}

/// A program that closes its output and goes on working (a dump program tidying up) is waited
/// for as long as it takes, not given up on: its exit code is the answer.
#[test]
fn a_child_that_works_on_after_closing_its_output_is_waited_for() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let (out, got) = stdout_of(&runner, &sh_mut("echo data; exec >&-; sleep 6; exit 3"), "cat > f")
        .expect("waited for");
    assert_eq!((out.code, got.as_slice()), (Some(3), &b"data\n"[..]));
}

#[test]
fn stdin_is_fed_from_kilter() {
    let ui = Ui::for_tests();
    let runner = Runner::new(Mode::Real, &ui);
    let out = runner
        .run_stdin_from(&sh_mut("wc -c"), "zstd -dc f", &mut |w| {
            for _ in 0..50 {
                w.write_all(&[b'x'; 100_000])?;
            }
            Ok(())
        })
        .expect("runs");
    assert_eq!((out.code, out.stdout.trim()), (Some(0), "5000000"));
    // A child that stops reading early is not kilter's error: its exit code tells.
    let out = runner
        .run_stdin_from(&sh_mut("head -c 10 >/dev/null; exit 4"), "src", &mut |w| loop {
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
        .run_stdin_from(&sh_mut(&script), "zstd -dc f", &mut |w| {
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
    let c = sh_mut(&format!("touch '{}'", marker.display()));
    runner.run_stdout_into(&c, "zstd -q > 'a b'", &mut |_| panic!("no data")).expect("printed");
    runner
        .run_stdin_from(&c.clone().cwd("/p"), "zstd -dc x", &mut |_| panic!("no feed"))
        .expect("printed");
    assert!(!marker.exists());
    let runner = Runner::new(Mode::Record(Mutex::new(Recording::default())), &ui);
    runner.run_stdout_into(&c, "cat", &mut |_| Ok(())).expect("recorded");
    assert_eq!(runner.recorded().len(), 1);
}

#[test]
fn tail_keeps_inner_blank_lines_and_says_when_it_cut() {
    let kind = "ERROR: failed to create cluster: failed to get docker info: exit status 1\n\nCommand Output: Cannot connect\n";
    assert_eq!(tail_lines(kind, 20), (kind.trim_end().to_owned(), false));
    assert_eq!(tail_lines("1\n2\n3\n", 2), ("2\n3".to_owned(), true));
}

fn sh(script: &str) -> Cmd {
    Cmd::new("sh", Some(Utf8Path::new("/bin/sh")), "run a test script").args(["-c", script])
}

/// A poll of `probe`: a new one every `every_ms`, at most `max_in_flight` at once, each killed
/// at `max_age_ms` to make room, giving up after `timeout_ms`.
fn poll_of<'a>(
    what: &'a str,
    probe: &'a Cmd,
    every_ms: u64,
    max_in_flight: usize,
    max_age_ms: u64,
    timeout_ms: u64,
) -> Poll<'a> {
    Poll {
        what,
        probe,
        every: Duration::from_millis(every_ms),
        max_in_flight,
        max_age: Duration::from_millis(max_age_ms),
        timeout: Duration::from_millis(timeout_ms),
        script_condition: None,
    }
}

/// `run_stdout_into` with a sink that keeps every byte: the output and the bytes.
fn stdout_of(r: &Runner<'_>, cmd: &Cmd, rest: &str) -> Result<(Output, Vec<u8>)> {
    let mut got = Vec::new();
    let out = r.run_stdout_into(cmd, rest, &mut |c| {
        if let Chunk::Data(b) = c {
            got.extend_from_slice(b);
        }
        Ok(())
    })?;
    Ok((out, got))
}

/// A temporary directory and its UTF-8 path (the directory goes with the first).
fn utf8_tempdir() -> (tempfile::TempDir, Utf8PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = Utf8Path::from_path(tmp.path()).expect("utf8").to_owned();
    (tmp, root)
}

#[test]
fn run_for_kills_a_command_that_outlives_its_limit() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let t = Instant::now();
    let out = r
        .run_for(&sh("echo started >&2; exec sleep 30"), Duration::from_millis(300))
        .expect("runs");
    assert!(out.timed_out && !out.success(), "{out:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(out.reason().contains("gave up"), "{}", out.reason());
    assert_eq!(out.stderr, "started\n", "what it printed before it was killed is kept");
    // One that takes longer than the runner's first look (10 ms) but ends well inside its limit
    // is left to finish.
    let quick = r.run_for(&sh("sleep 0.3; echo ok"), Duration::from_secs(5)).expect("runs");
    assert!(quick.success() && !quick.timed_out && quick.stdout == "ok\n", "{quick:?}");
}

#[test]
fn the_runner_deadline_kills_and_fails_with_exit_5() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    r.set_deadline(Duration::from_millis(300), "--timeout 300ms");
    let t = Instant::now();
    let err = r.run_unchecked(&sh("exec sleep 30")).expect_err("deadline");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout);
    assert!(err.to_string().contains("--timeout 300ms"), "{err}");
    // Past the deadline nothing new starts.
    assert!(r.run_unchecked(&sh("true")).is_err());
    r.clear_deadline();
    assert!(r.run_unchecked(&sh("true")).expect("runs").success());
}

#[test]
fn poll_overlaps_probes_so_a_slow_failing_probe_does_not_hide_success() {
    // Each probe fails after 2 s, unless the flag file exists when it starts: then it answers at
    // once. The file appears 600 ms in; a new probe must see it well before the slow ones end.
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let dir = tempfile::tempdir().expect("tmp");
    let flag = dir.path().join("up");
    let probe = sh(&format!(
        "if [ -e '{0}' ]; then echo ok; else sleep 2; echo not yet >&2; exit 1; fi",
        flag.display()
    ));
    let p = poll_of("the flag", &probe, 100, 3, 400, 10000);
    let t = Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        std::fs::write(flag, "").expect("write");
    });
    let end = r.poll(&p, |o| o.success(), |_| {}).expect("polls");
    writer.join().expect("writer");
    assert!(matches!(end, PollEnd::Done(ref o) if o.stdout.trim() == "ok"), "{end:?}");
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1200), "seen after {took:?}");
}

/// A probe slower than the interval but younger than `max_age` is let finish, not killed to
/// make room: with one probe in flight, a probe that answers after 300 ms is the answer.
#[test]
fn poll_lets_a_slow_probe_younger_than_max_age_answer() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let probe = sh("sleep 0.3; echo ok");
    let p = poll_of("the slow answer", &probe, 50, 1, 3000, 3000);
    let end = r.poll(&p, |o| o.success(), |_| {}).expect("the slow probe answers");
    assert!(matches!(end, PollEnd::Done(ref o) if o.stdout.trim() == "ok"), "{end:?}");
}

/// Poll a probe that answers after `secs` seconds, a new one every 20 ms, `in_flight` at once,
/// from a `max_age` of 50 ms, until one answers; how many probes started (each counts its start
/// in a file).
fn slow_probe_starts(secs: &str, in_flight: usize) -> usize {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let dir = tempfile::tempdir().expect("tmp");
    let starts = dir.path().join("starts");
    let probe = sh(&format!("echo >> '{}'; sleep {secs}; echo ok", starts.display()));
    let p = poll_of("the slow answer", &probe, 20, in_flight, 50, 30000);
    let end = r.poll(&p, |o| o.success(), |_| {}).expect("answers once max_age is past it");
    assert!(matches!(end, PollEnd::Done(ref o) if o.stdout.trim() == "ok"), "{end:?}");
    std::fs::read_to_string(&starts).expect("starts").lines().count()
}

/// Probes that never answer within `max_age` are killed to make room; only after a whole round
/// of them (twice the slots) killed in a row is `max_age` doubled, so a slow machine gets more
/// time without the first slow probe giving up the rule. A probe that takes 1.5 s against a
/// `max_age` of 50 ms: five doublings, each after eight probes killed in a row, before one is let
/// answer (each probe counts its start in a file).
#[test]
fn poll_doubles_max_age_only_after_a_round_of_probes_killed_in_a_row() {
    let started = slow_probe_starts("1.5", 4);
    // 5 doublings x 8 kills and the probe that answers (41; a stall of the loop on a busy
    // machine may let a probe answer a round early); one doubling per kill would be about 6.
    assert!(started > 24, "{started} probes started");
}

#[test]
fn poll_times_out_with_exit_5_and_the_last_answer() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let probe = sh("echo 'connection refused' >&2; exit 1");
    let p = poll_of("the API server", &probe, 50, 2, 1000, 400);
    // A verb's deadline far off: the poll's own timeout is what ends it, and says so.
    r.set_deadline(Duration::from_secs(20), "--timeout 20s");
    let err = r.poll(&p, |o| o.success(), |_| {}).expect_err("never ready");
    assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout);
    let msg = err.to_string();
    assert!(msg.starts_with("timed out after 400ms waiting for the API server\n"), "{msg}");
    assert!(msg.contains("last answer: connection refused"), "{msg}");
    // One probe every 50 ms for 400 ms: about eight started, each answered at once.
    let (answered, killed) = timeout_counts(&msg);
    assert!((2..=9).contains(&answered) && killed == 0, "{msg}");
}

/// The counts at the end of a poll's timeout message: `(N probes answered, K killed unanswered)`.
fn timeout_counts(msg: &str) -> (u32, u32) {
    let counts = msg
        .rsplit_once("  (")
        .and_then(|(_, rest)| rest.strip_suffix(" killed unanswered)"))
        .and_then(|rest| rest.split_once(" probes answered, "))
        .and_then(|(n, k)| Some((n.parse().ok()?, k.parse().ok()?)));
    counts.unwrap_or_else(|| panic!("no counts in: {msg}"))
}

/// Probes that never answer are killed at `max_age`, and the timeout counts them.
#[test]
fn poll_timeout_counts_the_probes_it_killed_unanswered() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let probe = sh("exec sleep 5");
    let p = poll_of("the hanging answer", &probe, 20, 1, 100, 500);
    let msg = r.poll(&p, |o| o.success(), |_| {}).expect_err("never answers").to_string();
    let (answered, killed) = timeout_counts(&msg);
    // Killed at 100 ms and 200 ms; then max_age doubles to 200 ms: one more at 400 ms.
    assert!(answered == 0 && (2..=4).contains(&killed), "{msg}");
}

/// `max_age` doubles after twice as many probes as may be in flight were killed in a row: with
/// one slot, after two. A probe that takes 1 s against a `max_age` of 50 ms: five doublings, two
/// kills each, then the one that answers (11 starts; a stall of the loop on a busy machine may
/// let a probe answer one round early).
#[test]
fn poll_doubles_max_age_after_two_kills_per_slot() {
    let started = slow_probe_starts("1", 1);
    assert!((9..=11).contains(&started), "{started} probes started");
}

#[test]
fn each_overlaps_items_in_a_real_run_and_keeps_their_order_and_transcripts() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let dir = tempfile::tempdir().expect("tmp");
    let root = Utf8Path::from_path(dir.path()).expect("utf8").to_owned();
    let items: Vec<usize> = (0..5).collect();
    let t = Instant::now();
    let out = r.each(&items, 3, |i| {
        r.with_transcript(root.join(format!("{i}.log")), || {
            r.run(&sh(&format!("sleep 0.4; echo {i}")))
                .map(|o| o.stdout.trim().parse::<usize>().expect("number"))
        })
    });
    let took = t.elapsed();
    let got: Vec<usize> = out.into_iter().map(|r| r.expect("ok")).collect();
    assert_eq!(got, items, "results in the items' order");
    // 5 items of 0.4 s, 3 at a time: two rounds (~0.8 s), not five (2 s)
    assert!(took < Duration::from_millis(1600), "{took:?}");
    assert!(took >= Duration::from_millis(800), "never more than 3 at once: {took:?}");
    for i in items {
        let log = std::fs::read_to_string(root.join(format!("{i}.log"))).expect("own transcript");
        assert!(log.contains(&format!("echo {i}")) && log.lines().count() == 1, "{log}");
    }
    assert_eq!(r.transcript_path(), None, "the thread transcripts are gone afterwards");
}

#[test]
fn each_goes_one_by_one_when_recording_or_planning_and_a_panic_is_an_error() {
    let ui = crate::ui::Ui::for_tests();
    let me = std::thread::current().id();
    for r in [
        Runner::new(Mode::Record(Mutex::new(Recording::default())), &ui),
        Runner::new(Mode::DryRun, &ui),
    ] {
        let order = Mutex::new(Vec::new());
        let out = r.each(&[1, 2, 3], 3, |i| {
            order.lock().expect("lock").push(*i);
            Ok(std::thread::current().id())
        });
        let threads: Vec<_> = out.into_iter().map(|o| o.expect("ran")).collect();
        assert_eq!(threads, vec![me; 3], "on the caller's thread, no worker");
        assert_eq!(*order.lock().expect("lock"), vec![1, 2, 3]);
    }
    let real = Runner::new(Mode::Real, &ui);
    let out = real.each(&[1, 2, 3], 2, |i| {
        assert!(*i != 2, "boom");
        Ok(*i)
    });
    assert_eq!(out[0].as_ref().ok(), Some(&1));
    assert!(out[1].as_ref().is_err_and(|e| e.to_string().contains("panicked")));
    assert_eq!(out[2].as_ref().ok(), Some(&3));
}

/// A limit of one (or none) in a real run takes the items one by one on the caller's own thread:
/// no worker thread is started (with none, no item would run at all), and the caller's
/// transcript gets their effects.
#[test]
fn each_with_a_limit_of_one_or_zero_works_on_the_callers_thread_in_order() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let me = std::thread::current().id();
    for limit in [0, 1] {
        let order = Mutex::new(Vec::new());
        let out = r.each(&[1, 2, 3], limit, |i| {
            order.lock().expect("lock").push(*i);
            Ok((*i, std::thread::current().id()))
        });
        let got: Vec<(i32, std::thread::ThreadId)> =
            out.into_iter().map(|o| o.expect("every item ran")).collect();
        assert_eq!(got, vec![(1, me), (2, me), (3, me)], "limit {limit}");
        assert_eq!(*order.lock().expect("lock"), vec![1, 2, 3], "limit {limit}");
    }
}

#[test]
fn streamed_output_reaches_the_caller_and_the_log_and_a_grandchild_cannot_hang_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Utf8PathBuf::from_path_buf(dir.path().join("out.log")).expect("utf8");
    let ui = Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let seen = Mutex::new(Vec::new());
    // The background sleep inherits the output pipe and outlives sh.
    let cmd = sh("echo one; printf 'a\\rb\\n' >&2; (sleep 5 &); printf 'last'; exit 3").mutate();
    let started = Instant::now();
    let out = r
        .run_streamed(&cmd, &log, &|l| seen.lock().expect("lock").push(l.to_owned()))
        .expect("runs");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(out.code, Some(3));
    assert_eq!(*seen.lock().expect("lock"), ["one", "a\rb", "last"]);
    assert_eq!(out.stderr, "one\na\rb\nlast", "the tail keeps a carriage return inside a line");
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "one\na\rb\nlast");
}

/// Past the deadline a streamed command gets SIGINT and a grace period: one that cleans up on
/// SIGINT finishes doing so (its last words reach the log); one that ignores SIGINT is killed
/// with its group once the grace period is over, not waited for.
#[test]
fn a_streamed_command_gets_its_grace_period_after_sigint_and_no_more() {
    let dir = tempfile::tempdir().expect("tmp");
    let ui = Ui::for_tests();
    let run = |script: &str| {
        let log = Utf8PathBuf::from_path_buf(dir.path().join(format!("{}.log", script.len())))
            .expect("utf8");
        let r = Runner::new(Mode::Real, &ui);
        r.set_deadline(Duration::from_millis(300), "--timeout 300ms");
        let err = r.run_streamed(&sh(script).mutate(), &log, &|_| {}).expect_err("deadline");
        assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout, "{err:#}");
        std::fs::read_to_string(&log).expect("log")
    };
    let tidy = run("trap 'sleep 0.5; echo tidied up; exit 0' INT; echo start; sleep 30 & wait");
    assert_eq!(tidy, "start\ntidied up\n", "the grace period let it clean up");
    let started = Instant::now();
    let stubborn = run("trap '' INT; echo start; sleep 20; echo survived");
    assert_eq!(stubborn, "start\n", "killed after the grace period");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn a_streamed_command_past_the_deadline_is_stopped_with_its_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = Utf8PathBuf::from_path_buf(dir.path().join("out.log")).expect("utf8");
    let ui = Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    r.set_deadline(Duration::from_millis(300), "--timeout 300ms");
    let started = Instant::now();
    let err = r
        .run_streamed(&sh("echo start; sleep 30").mutate(), &log, &|_| {})
        .expect_err("the deadline passes");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout, "{err:#}");
    assert_eq!(std::fs::read_to_string(&log).expect("log"), "start\n");
}

/// A failed command's error names what it was for (the summary), its exit status, and the
/// command line, and the deadline's message names the step it stopped before.
#[test]
fn a_failed_command_is_named_by_its_summary_and_exit_status() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let c =
        Cmd::new("sh", Some(Utf8Path::new("/bin/sh")), "count the widgets").args(["-c", "exit 3"]);
    let err = r.run(&c).expect_err("exit 3");
    assert_eq!(err.to_string(), "failed to count the widgets (exit status 3)");
    let cf = err.downcast_ref::<CommandFailed>().expect("typed");
    assert_eq!(cf.line, "sh -c 'exit 3'");
    r.set_deadline(Duration::ZERO, "--timeout 0s");
    let err = r.run(&c).expect_err("past the deadline");
    assert!(err.to_string().ends_with("while about to count the widgets"), "{err}");
}

/// A probe's own limit and the verb's deadline: whichever comes first decides, a passed deadline
/// is the verb's failure (exit 5), a probe's limit only the probe's.
#[test]
fn run_for_under_a_nearer_deadline_fails_with_exit_5_and_under_a_later_one_times_out() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    r.set_deadline(Duration::from_millis(300), "--timeout 300ms");
    let err = r.run_for(&sh("exec sleep 30"), Duration::from_secs(20)).expect_err("the deadline");
    assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout, "{err}");
    let r = Runner::new(Mode::Real, &ui);
    r.set_deadline(Duration::from_secs(20), "--timeout 20s");
    let out = r.run_for(&sh("exec sleep 30"), Duration::from_millis(300)).expect("its own limit");
    assert!(out.timed_out, "{out:?}");
    // Its own limit came first, though the deadline passed while the killed probe was reaped
    // (a grandchild holds its output: the reap waits up to 2 s): still its own timeout.
    let (_tmp, root) = utf8_tempdir();
    let pid_file = root.join("grandchild.pid");
    let r = Runner::new(Mode::Real, &ui);
    r.set_deadline(Duration::from_millis(600), "--timeout 600ms");
    let probe = sh(&format!("sleep 30 & echo $! > {pid_file}; exec sleep 30"));
    let out = r.run_for(&probe, Duration::from_millis(300));
    if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok()) {
        signal(pid, libc::SIGKILL);
    }
    let out = out.expect("its own limit, not the deadline");
    assert!(out.timed_out, "{out:?}");
}

/// A dry run remembers the directories its script creates: `mkdir -p a/b` makes `a` too, so
/// neither is created twice; a sibling is not taken for planned.
#[test]
fn dry_run_counts_a_planned_directorys_parents_as_planned_and_not_its_siblings() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::DryRun, &ui);
    let (_tmp, root) = utf8_tempdir();
    let (a, ab) = (root.join("a"), root.join("a/b"));
    assert!(!r.dir_planned(&ab), "not yet");
    assert!(r.dir_planned(&ab), "the script creates it now");
    assert!(r.dir_planned(&a), "mkdir -p a/b made a");
    assert!(!r.dir_planned(&root.join("c")), "a sibling is not planned");
    assert!(r.dir_planned(&root), "an existing one is there");
    let real = Runner::new(Mode::Real, &ui);
    assert!(!real.dir_planned(&ab) && !real.dir_planned(&ab), "a real run plans nothing");
}

/// In a dry run, a path exists after the planned writes: the written file, the directory that
/// holds it; not a path next to it, nor one whose planned write was a removal.
#[test]
fn dry_run_existence_follows_the_planned_writes_and_removals_only() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::DryRun, &ui);
    let (_tmp, root) = utf8_tempdir();
    r.plan_file(&root.join("d/f"), true);
    r.plan_file(&root.join("gone"), false);
    assert!(r.exists(&root.join("d/f")) && r.exists(&root.join("d")));
    assert!(!r.exists(&root.join("e")), "a path next to the planned file");
    assert!(!r.exists(&root.join("gone")), "a planned removal");
    std::fs::write(root.join("kept"), "x").expect("write");
    r.plan_file(&root.join("kept"), false);
    assert!(!r.exists(&root.join("kept")), "removed by the script, though on disk now");
    // `rm -rf` of a directory takes what the script wrote in it, and what is there on disk;
    // a write after it is there again.
    std::fs::create_dir_all(root.join("tree")).expect("mkdir");
    std::fs::write(root.join("tree/old"), "x").expect("write");
    r.plan_file(&root.join("tree/new"), true);
    r.plan_file(&root.join("tree"), false);
    assert!(!r.exists(&root.join("tree/new")) && !r.exists(&root.join("tree/old")));
    assert!(!r.exists(&root.join("tree")));
    r.plan_file(&root.join("tree/again"), true);
    assert!(r.exists(&root.join("tree/again")) && r.exists(&root.join("tree")));
    assert!(!r.exists(&root.join("tree/old")), "still removed");
    assert!(!r.exists(&root.join("treetop")), "a sibling whose name starts alike");
}

/// A dry run's read-back of a file it wrote: the last literal text while the file is planned to
/// be there, nothing once the script removes it or in a real run.
#[test]
fn planned_text_is_the_last_literal_write_until_the_script_removes_the_file() {
    use super::effects::Content;
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::DryRun, &ui);
    let (_tmp, root) = utf8_tempdir();
    let f = root.join("ports.json");
    r.write_file(&f, &Content::text("one"), crate::fsutil::Perm::Private(0o600)).expect("planned");
    r.write_file(&f, &Content::text("two"), crate::fsutil::Perm::Private(0o600)).expect("planned");
    assert_eq!(r.planned_text(&f).as_deref(), Some("two"));
    assert!(r.remove_file(&f).expect("planned"), "the script removes it");
    assert_eq!(r.planned_text(&f), None, "removed by the script");
    let real = Runner::new(Mode::Real, &ui);
    std::fs::write(root.join("on-disk"), "x").expect("write");
    assert_eq!(real.planned_text(&root.join("on-disk")), None, "a real run reads the file");
}

/// A fed command that runs in a directory is shown as `cd DIR && <source> | <command>` (the
/// `cd` first, so the line runs as shown), and runs there.
#[test]
fn a_fed_command_with_a_working_dir_shows_the_cd_before_the_pipe() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let (_tmp, root) = utf8_tempdir();
    r.set_transcript(root.join("commands.log"));
    let c = sh_mut("cat > fed").cwd(root.as_str());
    r.run_stdin_from(&c, "printf x", &mut |w| w.write_all(b"x")).expect("runs");
    assert_eq!(std::fs::read_to_string(root.join("fed")).expect("written in its dir"), "x");
    let log = std::fs::read_to_string(root.join("commands.log")).expect("transcript");
    let want = format!("cd {} && printf x | sh -c 'cat > fed'", quote(root.as_str()));
    assert!(log.contains(&want), "{want}\n{log}");
}

/// `cp` of an artifact: copied and `true` when the source is there; `false` and nothing written
/// when it is not; a dry run prints the `cp` and copies nothing.
#[test]
fn copy_file_copies_what_is_there_and_says_whether_it_was() {
    let ui = crate::ui::Ui::for_tests();
    let (_tmp, root) = utf8_tempdir();
    std::fs::write(root.join("a.log"), "log").expect("write");
    let r = Runner::new(Mode::Real, &ui);
    assert!(r.copy_file(&root.join("a.log"), &root.join("b.log")).expect("copies"));
    assert_eq!(std::fs::read_to_string(root.join("b.log")).expect("copied"), "log");
    assert!(!r.copy_file(&root.join("none.log"), &root.join("c.log")).expect("nothing to copy"));
    assert!(!root.join("c.log").exists());
    let dry = Runner::new(Mode::DryRun, &ui);
    assert!(dry.copy_file(&root.join("a.log"), &root.join("d.log")).expect("planned"));
    assert!(!root.join("d.log").exists(), "a dry run copies nothing");
    assert!(dry.exists(&root.join("d.log")), "but counts it as there afterwards");
}

/// `append_file` (the GitHub step summary): a real run appends and its transcript says how
/// much; a planned run records the shell line that appends the same bytes, and a dry run counts
/// the file as there afterwards.
#[test]
fn append_file_appends_and_a_plan_shows_the_line_that_would() {
    use super::effects::Content;
    let ui = crate::ui::Ui::for_tests();
    let (_tmp, root) = utf8_tempdir();
    let f = root.join("summary.md");
    let r = Runner::new(Mode::Real, &ui);
    r.set_transcript(root.join("commands.log"));
    r.append_file(&f, &Content::text("a\n")).expect("appends");
    r.append_file(&f, &Content::text("b\n")).expect("appends");
    assert_eq!(std::fs::read_to_string(&f).expect("written"), "a\nb\n");
    let log = std::fs::read_to_string(root.join("commands.log")).expect("transcript");
    assert!(log.contains(&format!("append 2 bytes to {}", quote(f.as_str()))), "{log}");
    let planned = Runner::new(Mode::Record(Mutex::new(Recording::default())), &ui);
    let g = root.join("planned.md");
    planned.append_file(&g, &Content::text("c\n")).expect("planned");
    let seen = planned.recorded().join("\n");
    assert!(seen.contains(&format!(">> {}", quote(g.as_str()))), "{seen}");
    assert!(!seen.contains("append 2 bytes"), "{seen}");
    assert!(!g.exists(), "nothing written");
    let dry = Runner::new(Mode::DryRun, &ui);
    dry.append_file(&g, &Content::text("c\n")).expect("planned");
    assert!(!g.exists() && dry.exists(&g), "a dry run writes nothing and counts it as there");
}

/// `ensure_dir` makes an existing directory private again (0700) and creates a missing one
/// private, with its parents.
#[test]
fn ensure_dir_makes_an_opened_directory_private_again() {
    use std::os::unix::fs::PermissionsExt as _;
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let (_tmp, root) = utf8_tempdir();
    let open = root.join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    r.ensure_dir(&open).expect("chmod");
    assert_eq!(crate::fsutil::mode_of(&open), Some(0o700));
    let deep = root.join("a/b");
    r.ensure_dir(&deep).expect("mkdir -p");
    assert_eq!(crate::fsutil::mode_of(&deep), Some(0o700));
}

/// `rm -rf` of a directory: removed and `true` when it was there, `false` when it was not.
#[test]
fn remove_dir_all_removes_what_is_there_and_says_whether_it_was() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let (_tmp, root) = utf8_tempdir();
    std::fs::create_dir_all(root.join("d/e")).expect("mkdir");
    std::fs::write(root.join("d/e/f"), "x").expect("write");
    assert!(r.remove_dir_all(&root.join("d")).expect("removes"));
    assert!(!root.join("d").exists());
    assert!(!r.remove_dir_all(&root.join("d")).expect("nothing there"));
    // Only "already gone" is not an error: a file where the directory should be is one.
    std::fs::write(root.join("file"), "x").expect("write");
    let err = r.remove_dir_all(&root.join("file")).expect_err("not a directory");
    assert!(format!("{err:#}").contains("could not remove"), "{err:#}");
    assert!(root.join("file").exists(), "left as it was");
}

/// With one probe in flight, a probe that has not reached `max_age` is never joined by a
/// second: each probe counts its start in a file.
#[test]
fn poll_never_runs_more_probes_at_once_than_it_allows() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let dir = tempfile::tempdir().expect("tmp");
    let starts = dir.path().join("starts");
    let probe = sh(&format!("echo >> '{}'; exec sleep 5", starts.display()));
    let p = poll_of("the hanging answer", &probe, 20, 1, 10000, 600);
    let err = r.poll(&p, |o| o.success(), |_| {}).expect_err("never answers");
    assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout, "{err}");
    let started = std::fs::read_to_string(&starts).expect("starts").lines().count();
    assert_eq!(started, 1, "one probe in flight at most");
}

/// The seconds a transcript entry records for the command whose line ends with `end`.
fn logged_secs(log: &str, end: &str) -> f64 {
    log.lines()
        .find(|l| l.ends_with(end))
        .and_then(|l| l.split('\t').nth(2))
        .and_then(|d| d.strip_suffix('s'))
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no entry ending {end:?} in:\n{log}"))
}

/// A command's output and its transcript entry carry how long it ran: a captured one and a
/// streamed dump alike.
#[test]
fn commands_and_their_transcript_entries_have_their_duration() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let (_tmp, root) = utf8_tempdir();
    r.set_transcript(root.join("commands.log"));
    let out = r.run(&sh("sleep 0.3")).expect("runs");
    assert!(out.duration >= Duration::from_millis(300), "{out:?}");
    let (out, got) = stdout_of(&r, &sh("sleep 0.3; echo data"), "cat > x").expect("runs");
    assert_eq!(got, b"data\n");
    assert!(out.duration >= Duration::from_millis(300), "{out:?}");
    let log = std::fs::read_to_string(root.join("commands.log")).expect("transcript");
    assert!(logged_secs(&log, "-c 'sleep 0.3'") >= 0.3, "{log}");
    assert!(logged_secs(&log, "| cat > x") >= 0.3, "{log}");
}

/// The pipe a dump streams through is grown from Linux's 64 KiB to 1 MiB (best effort: the
/// default limit for an unprivileged user is 1 MiB).
#[cfg(target_os = "linux")]
#[test]
fn the_pipe_a_dump_streams_through_is_grown_to_1_mib() {
    let (r, w) = std::io::pipe().expect("pipe");
    super::pipe::grow_pipe(&w);
    use std::os::fd::AsRawFd as _;
    // SAFETY: fcntl(F_GETPIPE_SZ) on a pipe we own.
    let size = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_GETPIPE_SZ) };
    assert_eq!(size, 1 << 20);
    drop(r);
}

/// No process group is numbered 0 or below (PID 1 and the kernel's threads show group 0 in
/// `/proc` on some machines).
#[test]
fn group_alive_is_false_for_group_zero_and_below() {
    assert!(!group_alive(0) && !group_alive(-1));
}

/// A leader that starts a command in a group of its own while it shuts down (as Tilt may):
/// that group is found while the leader runs and stopped with it.
#[test]
fn stopping_a_leader_also_stops_a_group_it_starts_while_shutting_down() {
    use std::os::unix::process::CommandExt as _;
    let (_tmp, root) = utf8_tempdir();
    let (late, ready) = (root.join("late.pid"), root.join("ready"));
    let script = format!(
        "trap 'setsid sleep 30 & echo $! > {late}; sleep 0.5; exit 0' TERM; : > {ready}; while :; do sleep 0.05; done"
    );
    #[allow(clippy::disallowed_methods)]
    let mut leader = std::process::Command::new("/bin/sh")
        .args(["-c", &script])
        .process_group(0)
        .spawn()
        .expect("sh");
    let pgid = leader.id() as i32;
    let end = Instant::now() + Duration::from_secs(10);
    while !ready.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ready.exists(), "the leader set its trap");
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let stopped = r.stop_groups(Some(pgid), Vec::new(), Duration::from_secs(5)).expect("stops");
    let _ = leader.wait();
    let late_pid: i32 = std::fs::read_to_string(&late)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("the leader started its late command");
    let late_alive = pid_alive(late_pid);
    signal(late_pid, libc::SIGKILL);
    assert_eq!(stopped, Stopped::Terminated);
    assert!(!late_alive, "the command started during shutdown was stopped too");
}

/// A probe killed at its limit whose grandchild keeps its output open: given up on after a
/// bounded wait, and never taken for a success.
#[test]
fn a_killed_probe_whose_grandchild_holds_its_output_is_not_a_success() {
    let (_tmp, root) = utf8_tempdir();
    let pid_file = root.join("grandchild.pid");
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let out = r
        .run_for(
            &sh(&format!("sleep 30 & echo $! > {pid_file}; exec sleep 30")),
            Duration::from_millis(300),
        )
        .expect("runs");
    if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse().ok()) {
        signal(pid, libc::SIGKILL);
    }
    assert!(out.timed_out && out.code.is_none() && !out.success(), "{out:?}");
}

/// Copying a dump's output: a read interrupted by a signal is retried, any other read error is
/// the copy's error (never skipped over as if the stream had ended cleanly).
#[test]
fn copy_out_retries_an_interrupted_read_and_fails_on_any_other_error() {
    struct Script(Vec<std::io::Result<&'static [u8]>>);
    impl std::io::Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.remove(0) {
                Ok(b) => {
                    buf[..b.len()].copy_from_slice(b);
                    Ok(b.len())
                }
                Err(e) => Err(e),
            }
        }
    }
    let err = |kind| Err(std::io::Error::from(kind));
    let mut got = Vec::new();
    let mut sink = |c: Chunk<'_>| {
        if let Chunk::Data(b) = c {
            got.extend_from_slice(b);
        }
        Ok(())
    };
    let mut ok = Script(vec![Ok(b"ab"), err(std::io::ErrorKind::Interrupted), Ok(b"c"), Ok(b"")]);
    super::pipe::copy_out(&mut ok, &mut sink).expect("an interrupted read is retried");
    let mut bad = Script(vec![Ok(b"ab"), err(std::io::ErrorKind::BrokenPipe), Ok(b"")]);
    let e = super::pipe::copy_out(&mut bad, &mut sink).expect_err("a read error is the error");
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    assert_eq!(got, b"abcab");
}

/// A poll whose probes succeed but never show what it waits for times out showing the last
/// probe's output (not "exit status 0").
#[test]
fn poll_timeout_shows_the_last_successful_answer_it_did_not_accept() {
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let probe = sh("echo not yet");
    let p = poll_of("the word ready", &probe, 50, 1, 1000, 300);
    let msg = r.poll(&p, |o| o.stdout.contains("ready"), |_| {}).expect_err("never").to_string();
    assert!(msg.contains("\n  last answer: not yet\n"), "{msg}");
}

/// A group that ignores SIGTERM is killed once the grace period is over, and `stop_groups`
/// returns as soon as it is gone (not after the whole bounded wait that follows SIGKILL).
#[test]
fn a_group_that_ignores_sigterm_is_killed_after_the_grace_period_and_no_later() {
    use std::os::unix::process::CommandExt as _;
    let (_tmp, root) = utf8_tempdir();
    let ready = root.join("ready");
    #[allow(clippy::disallowed_methods)]
    let mut stubborn = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("trap '' TERM; : > {ready}; while :; do sleep 0.05; done")])
        .process_group(0)
        .spawn()
        .expect("sh");
    let end = Instant::now() + Duration::from_secs(10);
    while !ready.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let t = Instant::now();
    let stopped = r.stop_groups(None, vec![stubborn.id() as i32], Duration::from_millis(300));
    let took = t.elapsed();
    let _ = stubborn.wait();
    assert_eq!(stopped.expect("stops"), Stopped::Killed);
    assert!(took >= Duration::from_millis(300), "the grace period first: {took:?}");
    // The bounded wait after SIGKILL is 2 s: a stop that waited it out takes at least 2.3 s. The
    // margin below that is for a loaded machine (1.7 s was seen beside two mutation runs).
    assert!(took < Duration::from_millis(2250), "gone at once after SIGKILL: {took:?}");
}

/// A streamed command that exits and closes its output is done at once: the wait for a
/// grandchild that holds the output (2 s) is only for that case.
#[test]
fn a_streamed_command_that_closes_its_output_is_done_at_once() {
    let (_tmp, root) = utf8_tempdir();
    let ui = Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let started = Instant::now();
    let out =
        r.run_streamed(&sh("echo done").mutate(), &root.join("out.log"), &|_| {}).expect("runs");
    let took = started.elapsed();
    assert_eq!(out.code, Some(0));
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// A streamed command stopped at the deadline: once its leader has gone, the rest of its group
/// is killed too, here a background job that the shell made immune to SIGINT (as a
/// non-interactive shell does) and that no longer holds the output.
#[test]
fn a_streamed_command_stopped_at_the_deadline_takes_its_whole_group_with_it() {
    let (_tmp, root) = utf8_tempdir();
    let ui = Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    let pidfile = root.join("bg.pid");
    let script =
        format!("sleep 30 > /dev/null 2>&1 & echo $! > {}; sleep 30", quote(pidfile.as_str()));
    r.set_deadline(Duration::from_millis(500), "the test");
    let err = r
        .run_streamed(&sh(&script).mutate(), &root.join("out.log"), &|_| {})
        .expect_err("stopped at the deadline");
    r.clear_deadline();
    assert_eq!(crate::error::code_of(&err), crate::error::Code::Timeout, "{err}");
    let bg: i32 = std::fs::read_to_string(&pidfile).expect("pid").trim().parse().expect("a pid");
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !super::process::pid_alive(bg)
    });
    if !gone {
        unsafe { libc::kill(bg, libc::SIGKILL) };
    }
    assert!(gone, "the background job {bg} outlived its group's stop");
}

/// A poll's transcript: the probe that answered first time is its only line; when several
/// were needed, a last line says which one answered, how often they ran and how many were
/// killed unanswered.
#[test]
fn a_polls_transcript_says_which_probe_answered_when_it_was_not_the_first() {
    let (_tmp, root) = utf8_tempdir();
    let ui = crate::ui::Ui::for_tests();
    let r = Runner::new(Mode::Real, &ui);
    r.set_transcript(root.join("commands.log"));
    let first = sh("echo ready");
    let end =
        r.poll(&poll_of("the first answer", &first, 20, 1, 1000, 5000), |o| o.success(), |_| {});
    assert!(matches!(end, Ok(PollEnd::Done(_))), "{end:?}");
    let log = std::fs::read_to_string(root.join("commands.log")).expect("transcript");
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(!log.contains("# probe"), "{log}");
    // The third probe answers: each counts its start, and fails until there were two before it.
    let count = root.join("count");
    let third =
        sh(&format!("n=$(cat {count} 2>/dev/null | wc -l); echo >> {count}; [ \"$n\" -ge 2 ]"));
    let end =
        r.poll(&poll_of("the third answer", &third, 20, 1, 1000, 5000), |o| o.success(), |_| {});
    assert!(matches!(end, Ok(PollEnd::Done(_))), "{end:?}");
    let log = std::fs::read_to_string(root.join("commands.log")).expect("transcript");
    let last = log.lines().last().unwrap_or_default();
    assert!(last.ends_with("  # probe 3 of 3 (every 20ms, 0 killed unanswered)"), "{log}");
}
