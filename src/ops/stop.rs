//! `kilter stop`: `down`, `docker stop` the node, write `cluster.stopped: true`. Idempotent and
//! all-or-nothing: the new kilter.yaml is computed and written to a temporary file beside it
//! (same owner, group and mode) *before* anything is stopped, so a file that cannot be edited or
//! written stops nothing; the rename that puts it in place comes after `docker stop`.
//!
//! `kilter stop --all`: every running kilter cluster on the machine, a few at a time. A project
//! whose directory and kilter.yaml are still there goes through exactly the code of `kilter
//! stop`, under its own lock (a concurrent `up` of it waits, or is waited for). A cluster whose
//! directory is gone, or now holds another project, has its Tilt and node stopped, with a note
//! that there is no kilter.yaml to flag.

use anyhow::Result;

use super::{Ctx, tilt_files};
use crate::cli::StopArgs;
use crate::error::{Code, Exit, code_of};
use crate::project::{Identity, Paths, Project, check_identity, commit_flag, stage_flag};
use crate::tools::Tool;
use crate::tools::docker::{Docker, KilterNode, NodeState};
use crate::tools::tilt::TiltFiles;

/// How many clusters `stop --all` stops at once: `docker stop` of a kind node waits for its
/// systemd to shut down (seconds each), and a few in parallel keep the disk and daemon calm.
const AT_ONCE: usize = 3;

pub fn run(ctx: &Ctx<'_>, args: &StopArgs) -> Result<i32> {
    if args.all {
        return run_all(ctx);
    }
    let ui = ctx.ui;
    let runner = ctx.runner;
    let project = ctx.project()?;
    let _lock = ctx.lock(&project, "kilter stop")?;
    check_identity(&project, args.adopt, ui)?;
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    Docker::check_daemon(&runner.run_unchecked(&docker.info_cmd())?)?;
    if stop_locked(ctx, &project, &docker, false)? == Outcome::Absent {
        ui.info(&format!(
            "Project `{}` has no cluster ({} does not exist); nothing to stop",
            project.name,
            project.node()
        ));
        return Ok(0);
    }
    ui.success(
        &format!(
            "Stopped {}; its state is kept on disk. Resume with `kilter up`.",
            project.cluster()
        ),
        &format!("stop {}", project.cluster()),
    );
    // The router: this project's names answer 503 with where to run `kilter up`.
    crate::lifecycle::router::refresh(ctx, Some((&project, crate::router::NodeState::Stopped)))?;
    Ok(0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Stopped,
    AlreadyStopped,
    Absent,
}

/// The body of `kilter stop` for one project whose lock the caller holds: stage the flag, stop
/// Tilt, `docker stop` the node, put the flag in place. `batch`: one of several projects
/// (`--all`), so no spinner (several run at once) and messages name the project.
fn stop_locked(
    ctx: &Ctx<'_>,
    project: &Project,
    docker: &Docker<'_>,
    batch: bool,
) -> Result<Outcome> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let state = docker
        .inspect(runner, &project.node())?
        .map(|c| c.node_state())
        .unwrap_or(NodeState::Absent);
    // The flag means "a stopped cluster exists": no cluster, no flag.
    let flag = match state {
        NodeState::Absent => None,
        _ => stage_flag(runner, project, true)?,
    };
    crate::lifecycle::stop_tilt(ctx, &tilt_files(project), Some(&project.name))?;
    let outcome = match state {
        NodeState::Absent => return Ok(Outcome::Absent),
        NodeState::Running => {
            let cmd = docker.stop_cmd(&project.node());
            if batch {
                runner.run(&cmd)?;
            } else {
                let step = ui.step(
                    &format!("Stopping cluster {}", project.cluster()),
                    &format!("stop cluster {}", project.cluster()),
                );
                runner.run(&cmd)?;
                step.done();
            }
            Outcome::Stopped
        }
        NodeState::NotRunning(status) => {
            ui.info(&format!("Cluster {} is already stopped ({status})", project.cluster()));
            Outcome::AlreadyStopped
        }
    };
    if let Some(flag) = flag {
        let created = flag.creates_file();
        commit_flag(runner, project, flag)?;
        if created {
            ui.info(&format!("Wrote {} with `cluster.stopped: true`", project.file_path));
        } else {
            ui.detail(&format!("wrote cluster.stopped: true to {}", project.file_path));
        }
    }
    Ok(outcome)
}

/// What `stop --all` does with one running cluster.
enum Target {
    /// Its directory and kilter.yaml are there: the full `kilter stop`.
    Project(Box<Project>),
    /// Tilt and the node only, and why.
    NodeOnly(Box<NodeOnly>),
}

struct NodeOnly {
    node: KilterNode,
    paths: Paths,
    why: String,
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Project(p) => &p.name,
            Target::NodeOnly(t) => &t.node.project,
        }
    }
    fn paths(&self) -> &Paths {
        match self {
            Target::Project(p) => &p.paths,
            Target::NodeOnly(t) => &t.paths,
        }
    }
}

/// Whether the directory recorded for a running cluster still holds that project.
fn target(ctx: &Ctx<'_>, node: KilterNode) -> Target {
    let paths = Paths::new(&ctx.dirs, &node.project);
    let Some(id) = Identity::read(&paths.identity) else {
        let why = format!("kilter has no record of its project directory ({})", paths.identity);
        return Target::NodeOnly(Box::new(NodeOnly { node, paths, why }));
    };
    let dir = id.dir;
    let yaml = dir.join(crate::config::FILE_NAME);
    let why = if !dir.is_dir() {
        format!("its directory {dir} is gone")
    } else if !yaml.is_file() {
        format!("{dir} has no kilter.yaml any more")
    } else {
        match Project::resolve(&dir, &ctx.dirs, &crate::ui::Ui::silent()) {
            Ok(p) if p.name == node.project && p.dir == dir => return Target::Project(Box::new(p)),
            Ok(p) => format!("{dir} now holds project `{}`", p.name),
            Err(e) => format!("{yaml} cannot be read ({e:#})"),
        }
    };
    Target::NodeOnly(Box::new(NodeOnly { node, paths, why }))
}

fn run_all(ctx: &Ctx<'_>) -> Result<i32> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let tools = ctx.tools(&[Tool::Docker])?;
    let docker = tools.docker()?;
    let targets: Vec<Target> = docker
        .kilter_nodes(runner)?
        .into_iter()
        .filter(KilterNode::running)
        .map(|n| target(ctx, n))
        .collect();
    if targets.is_empty() {
        ui.info("No kilter cluster is running; nothing to stop");
        return Ok(0);
    }
    let names: Vec<&str> = targets.iter().map(Target::name).collect();
    ui.info(&format!(
        "Stopping {} running kilter cluster{} ({} at a time): {}",
        targets.len(),
        if targets.len() == 1 { "" } else { "s" },
        AT_ONCE.min(targets.len()),
        names.join(", ")
    ));
    let results = runner.each(&targets, AT_ONCE, |t| {
        runner.with_transcript(t.paths().transcript.clone(), || stop_target(ctx, &docker, t))
    });

    crate::lifecycle::router::refresh(ctx, None)?;
    let mut stopped = Vec::new();
    let mut failed = Vec::new();
    for (t, r) in targets.iter().zip(results) {
        match r {
            Ok(Outcome::Stopped) => stopped.push(t.name().to_owned()),
            Ok(_) => {}
            Err(e) if code_of(&e) == Code::Interrupted => return Err(e),
            Err(e) => {
                failed.push(format!("{}: {}", t.name(), crate::error::with_stderr(&e, "    ")))
            }
        }
    }
    if !stopped.is_empty() {
        ui.success(
            &format!(
                "Stopped {} cluster{}: {}. Their state is kept on disk; `kilter up` in a project resumes it.",
                stopped.len(),
                if stopped.len() == 1 { "" } else { "s" },
                stopped.join(", ")
            ),
            &format!("stop {}", stopped.join(", ")),
        );
    }
    if !failed.is_empty() {
        return Err(Exit::new(
            Code::Failed,
            format!(
                "could not stop {} of {} clusters:\n  {}",
                failed.len(),
                targets.len(),
                failed.join("\n  ")
            ),
        )
        .hint("run `kilter stop --all` again, or `kilter stop` in that project's directory")
        .into());
    }
    Ok(0)
}

/// One cluster of `stop --all`, under its project's lock.
fn stop_target(ctx: &Ctx<'_>, docker: &Docker<'_>, t: &Target) -> Result<Outcome> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    let timeout = crate::lock::default_timeout()?;
    match t {
        Target::Project(p) => {
            let what = format!("project `{}`", p.name);
            let _lock = runner.lock(&p.paths.lock, &what, "kilter stop --all", timeout)?;
            check_identity(p, false, ui)?;
            let outcome = stop_locked(ctx, p, docker, true)?;
            if outcome == Outcome::Stopped {
                ui.success(
                    &format!("Stopped {} (flag written to {})", p.cluster(), p.file_path),
                    &format!("stop {}", p.cluster()),
                );
            }
            Ok(outcome)
        }
        Target::NodeOnly(t) => {
            let NodeOnly { node, paths, why } = &**t;
            // No cache dir: nothing of kilter's to lock or to read (a lock would create one).
            let what = format!("project `{}`", node.project);
            let _lock = if paths.cache.is_dir() {
                runner.lock(&paths.lock, &what, "kilter stop --all", timeout)?
            } else {
                None
            };
            let files = TiltFiles { record: &paths.tilt_json, log: &paths.tilt_log };
            crate::lifecycle::stop_tilt(ctx, &files, Some(&node.project))?;
            let state = docker
                .inspect(runner, &node.node)?
                .map(|c| c.node_state())
                .unwrap_or(NodeState::Absent);
            if state != NodeState::Running {
                return Ok(Outcome::AlreadyStopped);
            }
            runner.run(&docker.stop_cmd(&node.node))?;
            ui.note(&format!(
                "stopped {} only: {why}, so there is no kilter.yaml to write `cluster.stopped` to (`kilter gc` lists such clusters)",
                node.cluster
            ));
            Ok(Outcome::Stopped)
        }
    }
}
