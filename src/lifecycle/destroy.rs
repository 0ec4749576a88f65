//! Deleting a project's cluster, shared by `kilter destroy` and `kilter ci`: stop its Tilt,
//! `kind delete cluster`, remove the kubeconfig and runtime files, then put the staged
//! kilter.yaml edit in place. Snapshots and the port slot are kept. What comes before
//! (confirmation, the daemon check, the pre-destroy snapshot) is the caller's.

use anyhow::Result;

use crate::context::{Ctx, tilt_files};
use crate::project::{Project, StagedFlag, commit_flag};
use crate::tools::docker;
use crate::tools::kind::Kind;

/// Delete the cluster and the project's runtime files. `flag` is the kilter.yaml edit the caller
/// staged (clearing `cluster.stopped`) before anything was deleted.
pub fn delete(
    ctx: &Ctx<'_>,
    project: &Project,
    kind: &Kind<'_>,
    flag: Option<StagedFlag>,
) -> Result<()> {
    let ui = ctx.ui;
    let runner = ctx.runner;
    super::stop_tilt(ctx, &tilt_files(project), None)?;
    let step = ui.step(
        &format!("Deleting cluster {}", project.cluster()),
        &format!("delete cluster {}", project.cluster()),
    );
    runner.remove_file(&crate::tools::kind::kubeconfig_lock(&project.paths.kubeconfig))?;
    let cmd = kind.delete_cmd(&project.cluster(), &project.paths.kubeconfig);
    let out = runner.run_unchecked(&cmd)?;
    if !out.success() {
        drop(step);
        if docker::daemon_unreachable(&out.stderr) {
            return Err(docker::daemon_error(&out.stderr).into());
        }
        return Err(runner.failed(&cmd, &out, None).into());
    }
    step.done();

    let p = &project.paths;
    for f in [
        &p.kubeconfig,
        &crate::tools::kind::kubeconfig_lock(&p.kubeconfig),
        &p.tilt_json,
        &p.tilt_log,
        // `kilter ci --restore` keeps the output of its restore here.
        &p.cache.join("restore.log"),
        &p.kind_config,
        &p.creating,
        &p.identity,
        &p.services,
    ] {
        runner.remove_file(f)?;
    }
    // This cluster's copies of its registry wiring; the shared registry itself stays.
    runner.remove_dir_all(&p.cache.join("registry"))?;
    match flag {
        Some(flag) => commit_flag(runner, project, flag)?,
        None => {
            runner.remove_file(&p.flag_undo)?;
        }
    }
    Ok(())
}
