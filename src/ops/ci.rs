//! `kilter ci` (docs/commands.md, "kilter ci"): one shot for a CI job. Phases, each timed:
//!
//! 1. **cluster** — create or reuse it until healthy (`lifecycle::up`, the code of `kilter up`),
//!    and the shared router names its app and services as after `kilter up`;
//! 2. **services** — kilter.yaml's services applied and ready (as `up` does them), when there are
//!    any;
//! 3. **restore** — with `--restore NAME`, `kilter db restore NAME`;
//! 4. **tilt ci** — in the foreground, its output shown live and appended to `tilt.log`; with no
//!    Tiltfile the cluster's health is the whole test;
//! 5. **artifacts** — only after a failure: `kind export logs`, `tilt.log`, `commands.log`,
//!    `kilter status --json`, the namespace's events and `kubectl describe pods`, into
//!    `--artifacts DIR`;
//! 6. **destroy** — the cluster and its runtime files (`lifecycle::destroy`), unless `--keep`, or
//!    `--keep-on-failure` after a failure; its names then answer 503 as after `kilter destroy`.
//!
//! The exit code is Tilt's; 5 when `--timeout` passed (it bounds phases 1–4; artifacts and the
//! deletion after it get [`CLEANUP_LIMIT`] each, so a timed-out run still leaves its evidence
//! and no cluster behind); otherwise kilter's own. The phases and their times are printed at the
//! end. On GitHub Actions (`GITHUB_ACTIONS=true`) each phase is a `::group::`, a failure is an
//! `::error` annotation with the failing `$` line, and a Markdown summary goes to
//! `$GITHUB_STEP_SUMMARY`.

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use super::{Ctx, services_of};
use crate::cli::CiArgs;
use crate::error::{Code, CommandFailed, Exit, code_of, invalid};
use crate::exec::{Cmd, Content, Output};
use crate::github::{self, Actions, Phase, Status};
use crate::lifecycle;
use crate::lifecycle::app::Choice;
use crate::lifecycle::bring_up::{BroughtUp, Step, Steps, bring_up, prepare_tilt};
use crate::ports::{self, NodePorts};
use crate::project::{Identity, Project, check_identity, stage_flag};
use crate::services::{Service, Wired};
use crate::snapshot;
use crate::table::{Column, Table, Width};
use crate::tools::kubectl::{self, PodRow};
use crate::tools::tilt;
use crate::tools::{Tool, kilter_self};

/// How long collecting the artifacts, and then deleting the cluster, may each take after the
/// run itself ended (also after `--timeout` passed).
pub const CLEANUP_LIMIT: Duration = Duration::from_secs(180);

/// How long the pod listing for the report may take.
const POD_PROBE_LIMIT: Duration = Duration::from_secs(10);

/// How the work phases ended, short of a kilter error.
enum Verdict {
    Passed,
    /// `tilt ci` failed: its exit code, and the command with its output tail for the report.
    TiltFailed {
        code: i32,
        failure: CommandFailed,
    },
}

pub fn run(ctx: &Ctx<'_>, args: &CiArgs) -> Result<i32> {
    let started = Instant::now();
    let timeout = args.timeout.get();
    let ui = ctx.ui;
    let runner = ctx.runner;
    let actions = Actions::from_process();
    runner.set_deadline(timeout, &format!("--timeout {}", args.timeout));
    let project = ctx.project()?;
    // kilter.yaml's services and the snapshot to restore are checked before anything changes.
    let service_list = services_of(&project)?;
    if let Some(name) = &args.restore {
        check_snapshot(&project, name)?;
    }
    // `--fresh` refuses a cluster that exists before any phase starts (and again under the
    // project lock in the cluster phase).
    if args.fresh {
        let tools = ctx.tools(&[Tool::Docker])?;
        if let Some(c) = tools.docker()?.inspect(runner, &project.node())? {
            return Err(lifecycle::up::fresh_refusal(&project, &c).into());
        }
    }
    let artifacts_dir = artifacts_dir(args, &project)?;
    let mut phases = Phases { ctx, actions: &actions, list: Vec::new() };

    // Set by the cluster phase once `kind create` made the cluster in this run: only such a
    // cluster is deleted at the end (a reused one, e.g. `kilter up`'s, is kept).
    let created = AtomicBool::new(false);
    // The NodePorts the router named in the cluster phase (for the names after the deletion).
    let named = OnceCell::new();
    let outcome = work(ctx, &project, &service_list, args, &mut phases, &created, &named);
    runner.clear_deadline();
    let failed = !matches!(outcome, Ok(Verdict::Passed));
    let interrupted = outcome.as_ref().is_err_and(|e| code_of(e) == Code::Interrupted);
    let failure_text = match &outcome {
        Ok(Verdict::Passed) => None,
        Ok(Verdict::TiltFailed { failure, .. }) => Some(command_text(failure)),
        Err(e) => Some(error_text(e)),
    };
    if let (true, Some(text)) = (actions.enabled, &failure_text) {
        let title = match &outcome {
            Ok(Verdict::TiltFailed { code, .. }) => {
                format!("kilter ci: tilt ci failed (exit {code})")
            }
            _ => format!("kilter ci: {}", failed_phase_title(&phases.list)),
        };
        ui.workflow_command(&github::error(&title, text), true);
    }

    // What is in the namespace, for the report: before anything is deleted.
    let pods = if interrupted { Err("interrupted".to_owned()) } else { list_pods(ctx, &project) };

    let mut artifacts = None;
    if failed && !interrupted {
        runner.set_deadline(CLEANUP_LIMIT, "the artifacts' time limit");
        let collected = phases.run("artifacts", "Collecting artifacts", || {
            let entries = collect(ctx, &project, &artifacts_dir)?;
            let detail = format!("{} in {artifacts_dir}", entries.len());
            Ok((entries, Status::Ok(Some(detail))))
        });
        runner.clear_deadline();
        artifacts = Some((artifacts_dir.clone(), collected.unwrap_or_default()));
    }

    let keep = args.keep || (failed && args.keep_on_failure);
    let mut destroy_error = None;
    if interrupted {
        phases.skip("destroy", "interrupted; `kilter up` recovers, `kilter destroy` deletes");
    } else if keep {
        let why = if args.keep { "--keep" } else { "--keep-on-failure" };
        phases.skip("destroy", &format!("{why}: `kilter destroy --yes` deletes it"));
    } else if !created.load(Ordering::SeqCst) {
        let made = Identity::read(&project.paths.identity)
            .filter(|i| i.dir == project.dir)
            .and_then(|i| i.cluster)
            .map(|c| format!(", created by `kilter {}` at {}", c.created_by, c.created_at))
            .unwrap_or_default();
        let why = format!(
            "this run did not create {}{made}: it is kept; `kilter ci --fresh` insists on a throwaway cluster of its own",
            project.cluster()
        );
        phases.skip("destroy", &why);
    } else if !runner.exists(&project.paths.identity) {
        // This project never claimed the cluster (a dry run sees the claim it planned): never
        // delete someone else's.
        phases.skip("destroy", &format!("{} was not created by this project", project.cluster()));
    } else {
        runner.set_deadline(CLEANUP_LIMIT, "the deletion's time limit");
        let title = format!("Deleting cluster {}", project.cluster());
        if let Err(e) = phases
            .run("destroy", &title, || destroy(ctx, &project, named.get()).map(|()| ((), ok())))
        {
            destroy_error = Some(e);
        }
        runner.clear_deadline();
    }

    let total = started.elapsed();
    print_phases(ctx, &phases.list, total, !failed);
    if let Some(path) = &actions.step_summary {
        let report = github::Report {
            project: &project.name,
            namespace: &project.namespace(),
            ok: !failed && destroy_error.is_none(),
            phases: &phases.list,
            total,
            pods,
            artifacts,
            failure: failure_text.clone(),
        };
        let md = github::summary_markdown(&report);
        if let Err(e) = runner.append_file(path, &Content::text(md)) {
            ui.warn(&format!("could not write the step summary: {e:#}"));
        }
    }

    match outcome {
        Ok(Verdict::Passed) => match destroy_error {
            Some(e) => Err(e),
            None => {
                ui.success(
                    &format!("kilter ci passed ({})", crate::ui::fmt_duration(total)),
                    "run kilter ci",
                );
                Ok(0)
            }
        },
        Ok(Verdict::TiltFailed { code, failure }) => {
            if let Some(e) = destroy_error {
                ui.warn(&format!("the cluster could not be deleted: {e:#}"));
            }
            ui.error(&anyhow::Error::new(failure));
            Ok(code)
        }
        Err(e) => {
            if let Some(d) = destroy_error {
                ui.warn(&format!("the cluster could not be deleted: {d:#}"));
            }
            Err(e)
        }
    }
}

/// Where the evidence of a failure goes (`--artifacts`, relative to the working directory).
fn artifacts_dir(args: &CiArgs, project: &Project) -> Result<Utf8PathBuf> {
    Ok(match &args.artifacts {
        // (An absolute one is taken as it is, without asking for the working directory.)
        Some(d) => Utf8PathBuf::try_from(std::path::absolute(d)?).unwrap_or_else(|_| d.clone()),
        None => project.paths.cache.join("artifacts"),
    })
}

/// Phases 1–4, stopping at the first failure.
fn work(
    ctx: &Ctx<'_>,
    project: &Project,
    service_list: &[Service],
    args: &CiArgs,
    phases: &mut Phases<'_, '_>,
    created: &AtomicBool,
    named: &OnceCell<NodePorts>,
) -> Result<Verdict> {
    let actions = phases.actions;
    let timeout = args.timeout.get();
    // The user's Tiltfile, or the one kilter renders for the app (as `up` does).
    let choice = crate::lifecycle::app::choose(project)?;
    let (tiltfile, want_tilt) = match &choice {
        Choice::User { path, exists } => (path.clone(), *exists),
        Choice::Rendered(_) => (crate::lifecycle::app::rendered_tiltfile(project), true),
        Choice::Nothing => (project.tiltfile(), false),
    };
    // (`ci` gives routes no NodePort: the router is for a developer's machine.)
    crate::lifecycle::app::check_services(&choice, service_list, &[])?;
    let opts = lifecycle::up::Options {
        adopt: false,
        tilt: want_tilt,
        timeout,
        command: "kilter ci",
        services: service_list,
        fresh: args.fresh,
        created: Some(created),
        by: "ci",
    };
    // The cluster, then kilter.yaml's services, as `up` brings them up: each a phase.
    let BroughtUp { up, wired } = bring_up(ctx, project, &opts, false, phases)?;
    // The shared router names this project's app and services while the run lasts, as after
    // `kilter up` (a warning at worst).
    crate::lifecycle::router::after_up(ctx, project, &up.nodeports)?;
    let _ = named.set(up.nodeports.clone());
    // Released before anything that may run kilter itself (`db restore`, a Tiltfile's
    // `local('kilter …')`); the deletion takes it again.
    drop(up.lock);

    if let Some(name) = &args.restore {
        phases.run("restore", &format!("Restoring snapshot {name}"), || {
            restore(ctx, actions, project, name).map(|()| ((), ok()))
        })?;
    }

    if !want_tilt {
        phases.skip(
            "tilt ci",
            &format!("no Tiltfile at {tiltfile}: the cluster's health is the test"),
        );
        return Ok(Verdict::Passed);
    }
    if let Choice::Rendered(app) = &choice {
        crate::lifecycle::app::render_into_cache(ctx, project, app, &up.ports, &wired)?;
    }
    phases.run("tilt ci", "tilt ci", || {
        let artifacts = artifacts_dir(args, project)?;
        let run =
            TiltRun { tools: &up.tools, ports: &up.ports, wired: &wired, tiltfile: &tiltfile };
        let v = tilt_ci(ctx, actions, project, &run, &artifacts)?;
        let status = match &v {
            Verdict::Passed => ok(),
            Verdict::TiltFailed { code, .. } => Status::Failed(format!("exit {code}")),
        };
        Ok((v, status))
    })
}

fn ok() -> Status {
    Status::Ok(None)
}

/// What `tilt ci` runs with.
struct TiltRun<'a> {
    tools: &'a crate::tools::Tools,
    ports: &'a ports::Ports,
    wired: &'a [Wired],
    tiltfile: &'a Utf8Path,
}

/// The bring-up steps as timed phases: `cluster`, and `services` when there are any to apply
/// or delete (otherwise the step changes nothing and is not shown).
impl Steps for Phases<'_, '_> {
    fn run<T>(&mut self, step: &Step<'_>, f: impl FnOnce() -> Result<T>) -> Result<T> {
        match step {
            Step::Cluster { cluster } => {
                Phases::run(self, "cluster", &format!("Cluster {cluster}"), || {
                    f().map(|v| (v, ok()))
                })
            }
            Step::Services { changes_nothing: true, .. } => f(),
            Step::Services { names, .. } => {
                let title = if names.is_empty() {
                    "Services (deleting those removed from kilter.yaml)".to_owned()
                } else {
                    format!("Services {}", names.join(", "))
                };
                Phases::run(self, "services", &title, || f().map(|v| (v, ok())))
            }
        }
    }
}

/// `tilt ci` in the foreground: its output shown live and appended to `tilt.log`.
fn tilt_ci(
    ctx: &Ctx<'_>,
    actions: &Actions,
    project: &Project,
    run: &TiltRun<'_>,
    artifacts: &Utf8Path,
) -> Result<Verdict> {
    let TiltRun { tools, ports, wired, tiltfile } = *run;
    let runner = ctx.runner;
    let ui = ctx.ui;
    let bin = tools.get(Tool::Tilt)?;
    // A detached `tilt up` of this project holds the port `tilt ci` needs.
    let plan = prepare_tilt(ctx, project, ports, wired, "`tilt ci`", |o| {
        ui.info(&format!(
            "Stopped this project's detached Tilt (pid {}): `tilt ci` needs its port",
            o.pid
        ));
    })?;
    let targs = plan.tilt_args(tiltfile);
    // Tilt's own `--timeout` ends a little before kilter's deadline, so that its verdict (which
    // resources were still waiting, and on what) is in the log.
    // (`run` set the `--timeout` deadline before any phase, and clears it only after them.)
    let budget = runner.remaining().context("`tilt ci` runs under kilter ci's --timeout")?;
    let tilt_timeout = tilt_timeout(budget);
    let cmd = tilt::ci_cmd(bin, &targs, &project.dir, Some(tilt_timeout));
    runner.ensure_dir(&project.paths.cache)?;
    let out = passthrough(ctx, actions, &cmd, &project.paths.tilt_log)?;
    if out.success() {
        return Ok(Verdict::Passed);
    }
    let code = out.code.unwrap_or(1);
    if out.duration >= tilt_timeout {
        let (tail, _) = crate::exec::tail_lines(&out.stderr, 1);
        return Err(Exit::new(
            Code::Timeout,
            format!(
                "timed out: `tilt ci` had not seen every workload healthy within its {} ({})",
                tilt::go_duration(tilt_timeout),
                if tail.is_empty() { "no verdict printed" } else { tail.trim() }
            ),
        )
        // tilt.log itself goes with the cluster's runtime files: point at its copy.
        .hint(format!("raise --timeout; what Tilt printed is in {}", artifacts.join("tilt.log")))
        .into());
    }
    let failure = runner.failed(
        &cmd,
        &out,
        Some(format!("Tilt's whole output is in {}", artifacts.join("tilt.log"))),
    );
    Ok(Verdict::TiltFailed { code, failure })
}

/// Run a command whose output is shown live and appended to `log`. On GitHub Actions its output
/// is fenced with `::stop-commands::`, so that none of its lines is taken for a workflow command.
fn passthrough(ctx: &Ctx<'_>, actions: &Actions, cmd: &Cmd, log: &Utf8Path) -> Result<Output> {
    let ui = ctx.ui;
    let token = actions.enabled.then(github::new_token);
    if let Some(t) = &token {
        ui.workflow_command(&github::stop_commands(t), false);
    }
    let out = ctx.runner.run_streamed(cmd, log, &|l| ui.passthrough(l));
    if let Some(t) = &token {
        ui.workflow_command(&github::resume_commands(t), false);
    }
    out
}

/// Tilt's share of the remaining time: all but a tenth of it, at most 5 s less (whole seconds
/// from 10 s up, as Go prints and reads durations).
fn tilt_timeout(budget: Duration) -> Duration {
    let margin = (budget / 10).min(Duration::from_secs(5));
    let t = budget.saturating_sub(margin).max(Duration::from_millis(100));
    if t >= Duration::from_secs(10) { Duration::from_secs(t.as_secs()) } else { t }
}

/// `kilter db restore NAME`, run as the user would run it (the same code, the same checks: the
/// checksum is verified before the database is touched). Its exit code is kept.
fn restore(ctx: &Ctx<'_>, actions: &Actions, project: &Project, name: &str) -> Result<()> {
    let runner = ctx.runner;
    let cmd = kilter_self().restore_cmd(&project.dir, name);
    runner.ensure_dir(&project.paths.cache)?;
    let log = restore_log(project);
    let out = passthrough(ctx, actions, &cmd, &log)?;
    if out.success() {
        return Ok(());
    }
    // kilter's own exit code, kept; a usage error would be this code's own bug: a failure.
    let code = match Code::of_exit(out.code) {
        Code::Ok | Code::Usage => Code::Failed,
        c => c,
    };
    let failed = runner.failed(&cmd, &out, None);
    Err(anyhow::Error::new(failed)
        .context(Exit::new(code, format!("could not restore snapshot {name}"))))
}

/// `--restore NAME` must name a snapshot that is there (its metadata, `NAME.json`): checked before
/// anything is created. `kilter db restore` then verifies it in full.
fn check_snapshot(project: &Project, name: &str) -> Result<()> {
    snapshot::validate_name(name)?;
    if snapshot::meta_path(&project.paths.snapshots, name).is_file() {
        return Ok(());
    }
    Err(invalid(format!("no snapshot named `{name}` in {}", project.paths.snapshots))
        .hint("`kilter db list` shows the snapshots; `kilter db snapshot NAME` takes one")
        .into())
}

/// Where the output of `kilter db restore` goes (shown live too); removed with the cluster.
fn restore_log(project: &Project) -> Utf8PathBuf {
    project.paths.cache.join("restore.log")
}

/// The pods of the namespace, for the report.
fn list_pods(ctx: &Ctx<'_>, project: &Project) -> Result<Vec<PodRow>, String> {
    if !project.paths.kubeconfig.exists() {
        return Err(format!("no cluster (no kubeconfig at {})", project.paths.kubeconfig));
    }
    let tools = ctx.tools(&[Tool::Kubectl]).map_err(|e| format!("{e:#}"))?;
    let bin = tools.get(Tool::Kubectl).map_err(|e| format!("{e:#}"))?;
    let kubectl = project.kubectl_with(bin);
    let out = ctx
        .runner
        .run_for(&kubectl.pods_json_cmd(&project.namespace()), POD_PROBE_LIMIT)
        .map_err(|e| format!("{e:#}"))?;
    if !out.success() {
        return Err(out.reason());
    }
    kubectl::parse_pods(&out.stdout, crate::time::now_secs()).map_err(|e| format!("{e:#}"))
}

/// Collect the evidence into `dir`; each item that cannot be had is a warning. Returns the
/// entries written.
fn collect(ctx: &Ctx<'_>, project: &Project, dir: &Utf8Path) -> Result<Vec<String>> {
    let runner = ctx.runner;
    let ui = ctx.ui;
    runner.ensure_dir(dir)?;
    let mut entries = Vec::new();
    let mut item = |name: &str, res: Result<bool>| match res {
        Ok(true) => entries.push(name.to_owned()),
        Ok(false) => {}
        Err(e) => ui.warn(&format!("could not collect {name}: {e:#}")),
    };
    let tools = ctx.tools(&[Tool::Docker, Tool::Kind, Tool::Kubectl]);
    let ns = project.namespace();
    match &tools {
        Ok(tools) => {
            let kind = tools.kind()?;
            let cmd = kind.export_logs_cmd(&project.cluster(), &dir.join("kind"));
            item("kind/", run_ok(ctx, &cmd, None));
            if project.paths.kubeconfig.exists() {
                let kubectl = project.kubectl(tools)?;
                item(
                    "events.txt",
                    run_ok(ctx, &kubectl.events_cmd(&ns), Some(&dir.join("events.txt"))),
                );
                item(
                    "pods.txt",
                    run_ok(ctx, &kubectl.describe_pods_cmd(&ns), Some(&dir.join("pods.txt"))),
                );
            } else {
                ui.note("no kubeconfig, so no events or pod descriptions");
            }
        }
        Err(e) => ui.warn(&format!("could not collect the cluster's logs: {e:#}")),
    }
    let status = kilter_self().status_json_cmd(&project.dir);
    item("status.json", run_ok(ctx, &status, Some(&dir.join("status.json"))));
    item("tilt.log", runner.copy_file(&project.paths.tilt_log, &dir.join("tilt.log")));
    item("restore.log", runner.copy_file(&restore_log(project), &dir.join("restore.log")));
    // Last, so that it holds every command above.
    item("commands.log", runner.copy_file(&project.paths.transcript, &dir.join("commands.log")));
    Ok(entries)
}

/// Run an artifact command (stdout into `into` when given); a failure is an error.
fn run_ok(ctx: &Ctx<'_>, cmd: &Cmd, into: Option<&Utf8PathBuf>) -> Result<bool> {
    let out: Output = match into {
        Some(p) => ctx.runner.run_into(cmd, p)?,
        None => ctx.runner.run_unchecked(cmd)?,
    };
    if out.success() { Ok(true) } else { Err(ctx.runner.failed(cmd, &out, None).into()) }
}

/// Delete the cluster (the project lock again, kilter.yaml's flag staged first).
fn destroy(ctx: &Ctx<'_>, project: &Project, named: Option<&NodePorts>) -> Result<()> {
    let _lock = ctx.lock(project, "kilter ci")?;
    // The cluster must still be this directory's.
    check_identity(project, false, ctx.ui)?;
    let tools = ctx.tools(&[Tool::Docker, Tool::Kind])?;
    let kind = tools.kind()?;
    let flag = stage_flag(ctx.runner, project, false)?;
    lifecycle::destroy::delete(ctx, project, &kind, flag)?;
    // The router: this project's names answer 503 as after `kilter destroy`.
    match named {
        Some(services) => lifecycle::router::after_ci_delete(ctx, project, services),
        None => lifecycle::router::refresh(ctx, Some((project, crate::router::NodeState::Absent))),
    }
}

/// The phases run so far; prints each as it starts (a `::group::` on GitHub Actions).
struct Phases<'c, 'a> {
    ctx: &'c Ctx<'a>,
    actions: &'c Actions,
    list: Vec<Phase>,
}

impl Phases<'_, '_> {
    /// Run one phase; `f` returns its value and how it went.
    fn run<T>(
        &mut self,
        name: &str,
        title: &str,
        f: impl FnOnce() -> Result<(T, Status)>,
    ) -> Result<T> {
        let ui = self.ctx.ui;
        if self.actions.enabled {
            ui.workflow_command(&github::group(title), false);
        } else {
            ui.info(&format!("── {title}"));
        }
        let start = Instant::now();
        let res = f();
        let took = start.elapsed();
        if self.actions.enabled {
            ui.workflow_command(github::END_GROUP, false);
        }
        let status = match &res {
            Ok((_, s)) => s.clone(),
            Err(e) => Status::Failed(short_reason(e)),
        };
        self.list.push(Phase { name: name.to_owned(), status, took });
        res.map(|(v, _)| v)
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.ctx.ui.info(&format!("── {name}: skipped ({why})"));
        self.list.push(Phase {
            name: name.to_owned(),
            status: Status::Skipped(why.to_owned()),
            took: Duration::ZERO,
        });
    }
}

/// A few words for the phase table.
fn short_reason(e: &anyhow::Error) -> String {
    match code_of(e) {
        Code::Timeout => return "timed out".to_owned(),
        Code::Interrupted => return "interrupted".to_owned(),
        _ => {}
    }
    let text = e.to_string();
    if text.chars().count() > 100 {
        format!("{}…", text.chars().take(99).collect::<String>())
    } else {
        text
    }
}

/// "cluster failed" for the annotation title.
fn failed_phase_title(list: &[Phase]) -> String {
    match list.iter().rev().find(|p| matches!(p.status, Status::Failed(_))) {
        Some(p) => format!("{} failed", p.name),
        None => "failed".to_owned(),
    }
}

/// A failed command as the annotation and the summary show it: the `$` line, then its output.
fn command_text(f: &CommandFailed) -> String {
    let mut s = format!("{f}\n$ {}", f.line);
    if !f.stderr_tail.is_empty() {
        s.push('\n');
        s.push_str(&f.stderr_tail);
    }
    s
}

/// An error as plain text: the message, its causes, the failed command and its stderr tail.
fn error_text(e: &anyhow::Error) -> String {
    crate::error::render(e)
        .into_iter()
        .map(|(part, text)| match part {
            crate::error::Part::Help => format!("help: {text}"),
            _ => text,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The closing table: each phase, its result and time.
fn print_phases(ctx: &Ctx<'_>, list: &[Phase], total: Duration, passed: bool) {
    let ui = ctx.ui;
    ui.info(&format!("kilter ci {}:", if passed { "passed" } else { "failed" }));
    for line in phase_lines(list, total) {
        ui.info(&line);
    }
}

/// The lines of the closing table, the total last.
fn phase_lines(list: &[Phase], total: Duration) -> Vec<String> {
    let table = Table::new(vec![
        Column::left("  ", Width::Fit(5)),
        Column::right("  ", Width::AtLeast(7)),
        Column::left("  ", Width::AtLeast(0)),
    ]);
    let mut rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            let (took, result) = match &p.status {
                Status::Ok(None) => (crate::ui::fmt_duration(p.took), "ok".to_owned()),
                Status::Ok(Some(d)) => (crate::ui::fmt_duration(p.took), format!("ok ({d})")),
                Status::Failed(why) => (crate::ui::fmt_duration(p.took), format!("failed: {why}")),
                Status::Skipped(why) => ("-".to_owned(), format!("skipped: {why}")),
            };
            vec![p.name.clone(), took, result]
        })
        .collect();
    rows.push(vec!["total".to_owned(), crate::ui::fmt_duration(total)]);
    table.render_lines(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closing table is exactly what these `format!` lines print.
    #[test]
    fn the_phase_table_keeps_its_layout() {
        let phase = |name: &str, status: Status, ms: u64| Phase {
            name: name.into(),
            status,
            took: Duration::from_millis(ms),
        };
        let list = vec![
            phase("cluster", Status::Ok(None), 67),
            phase("services", Status::Ok(Some("2 ready".into())), 1500),
            phase("tilt ci", Status::Failed("exit 1".into()), 42),
            phase("destroy", Status::Skipped("--keep".into()), 0),
        ];
        let fmt = crate::ui::fmt_duration;
        let w = 8; // the longest name, at least 5
        let want = vec![
            format!("  {:<w$}  {:>7}  {}", "cluster", fmt(Duration::from_millis(67)), "ok"),
            format!(
                "  {:<w$}  {:>7}  {}",
                "services",
                fmt(Duration::from_millis(1500)),
                "ok (2 ready)"
            ),
            format!(
                "  {:<w$}  {:>7}  {}",
                "tilt ci",
                fmt(Duration::from_millis(42)),
                "failed: exit 1"
            ),
            format!("  {:<w$}  {:>7}  {}", "destroy", "-", "skipped: --keep"),
            format!("  {:<w$}  {:>7}", "total", fmt(Duration::from_secs(2))),
        ];
        assert_eq!(phase_lines(&list, Duration::from_secs(2)), want);
        // a short list: the name column is still 5 wide
        let short = phase_lines(&[phase("x", Status::Ok(None), 1)], Duration::from_millis(1));
        assert_eq!(short[0], format!("  {:<5}  {:>7}  ok", "x", fmt(Duration::from_millis(1))));
    }

    /// The phase table's few words: a timeout or an interrupt by name, whatever its message;
    /// otherwise the message, cut after 99 characters when it is longer than 100.
    #[test]
    fn a_failed_phase_is_named_in_a_few_words() {
        let timed_out = anyhow::Error::new(Exit::new(Code::Timeout, "timed out after 3.0s"));
        assert_eq!(short_reason(&timed_out), "timed out");
        let stopped = anyhow::Error::new(Exit::new(Code::Interrupted, "stopped by Ctrl-C"));
        assert_eq!(short_reason(&stopped), "interrupted");
        let plain = anyhow::anyhow!("kind create cluster failed");
        assert_eq!(short_reason(&plain), "kind create cluster failed");
        // Characters, not bytes: 100 of them are kept whole, 101 are cut to 99 and an ellipsis.
        let hundred = "é".repeat(100);
        assert_eq!(short_reason(&anyhow::anyhow!("{hundred}")), hundred);
        let cut = short_reason(&anyhow::anyhow!("{hundred}x"));
        assert_eq!(cut, format!("{}…", "é".repeat(99)));
        assert_eq!(short_reason(&anyhow::anyhow!("")), "");
    }

    /// The annotation's title names the last phase that failed.
    #[test]
    fn the_annotation_title_names_the_phase_that_failed() {
        let phase =
            |name: &str, status: Status| Phase { name: name.into(), status, took: Duration::ZERO };
        let list = vec![
            phase("cluster", Status::Ok(None)),
            phase("restore", Status::Failed("exit 4".into())),
            phase("artifacts", Status::Ok(Some("3 in art".into()))),
            phase("destroy", Status::Skipped("--keep-on-failure".into())),
        ];
        assert_eq!(failed_phase_title(&list), "restore failed");
        assert_eq!(failed_phase_title(&list[..1]), "failed", "no phase failed (an early error)");
        assert_eq!(failed_phase_title(&[]), "failed");
    }

    /// An error as the annotation and the summary show it: the message, its causes, and each
    /// hint as `help:`.
    #[test]
    fn an_error_is_plain_text_with_its_causes_and_help() {
        let e = anyhow::Error::new(
            Exit::new(Code::Invalid, "no snapshot named `x`").hint("`kilter db list` shows them"),
        )
        .context("could not restore");
        assert_eq!(
            error_text(&e),
            "could not restore\nCaused by:\n  no snapshot named `x`\nhelp: `kilter db list` shows them"
        );
    }

    #[test]
    fn tilt_gets_most_of_the_budget_and_go_reads_it() {
        assert_eq!(tilt_timeout(Duration::from_secs(1800)), Duration::from_secs(1795));
        assert_eq!(tilt_timeout(Duration::from_millis(1_799_750)), Duration::from_secs(1794));
        assert_eq!(tilt_timeout(Duration::from_secs(10)), Duration::from_secs(9));
        assert_eq!(tilt_timeout(Duration::from_secs(20)), Duration::from_secs(18));
        assert_eq!(tilt_timeout(Duration::ZERO), Duration::from_millis(100));
    }
}
