//! Putting services into the cluster, through the runner: write the rendered manifests into the
//! project's cache dir, `kubectl apply --server-side --field-manager=kilter -f - < file`, delete
//! what kilter.yaml no longer lists (by label), and wait until every service is ready.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Result;
use camino::Utf8Path;

use super::render::{MANAGED_BY, NAME_LABEL};
use super::{Service, Wired, WorkloadKind};
use crate::error::{Code, Exit, code_of};
use crate::exec::{Content, Output, Poll, PollEnd, Runner};
use crate::fsutil::Perm;
use crate::tools::kubectl::{self, Deleted, Kubectl, Readiness};
use crate::ui::Ui;

/// Where services go.
pub struct Target<'a> {
    pub runner: &'a Runner<'a>,
    pub ui: &'a Ui,
    pub kubectl: &'a Kubectl<'a>,
    pub namespace: &'a str,
    /// `<cache dir>/services.yaml`
    pub manifest: &'a Utf8Path,
}

/// `app.kubernetes.io/managed-by=kilter`
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}=kilter")
}

/// Object types a service consists of (`with_data`: its PersistentVolumeClaim too).
fn types(with_data: bool) -> &'static str {
    if with_data {
        "statefulsets,deployments,services,persistentvolumeclaims"
    } else {
        "statefulsets,deployments,services"
    }
}

fn names_list(names: &[String]) -> String {
    names.join(", ")
}

/// Write the manifests of `services` into the project's cache dir (0600: dev credentials are in
/// it). No services: the file goes. Returns whether there is anything to apply.
pub fn write_manifest(t: &Target<'_>, services: &[Service], wired: &[Wired]) -> Result<bool> {
    let pairs: Vec<(&Service, &Wired)> = services.iter().zip(wired).collect();
    let Some(text) = super::render::manifests(&pairs, t.namespace) else {
        t.runner.remove_file(t.manifest)?;
        return Ok(false);
    };
    t.runner.write_file(t.manifest, &Content::text(text), Perm::Private(0o600))?;
    Ok(true)
}

/// Write the manifests and apply them. Nothing to apply: the manifest file goes.
pub fn apply(t: &Target<'_>, services: &[Service], wired: &[Wired]) -> Result<()> {
    if !write_manifest(t, services, wired)? {
        return Ok(());
    }
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let step = t.ui.step(
        &format!("Applying services {}", names_list(&names)),
        &format!("apply services {}", names_list(&names)),
    );
    let cmd = t.kubectl.apply_cmd(format!("apply services {}", names_list(&names)), t.manifest);
    let out = t.runner.run_unchecked(&cmd)?;
    if !out.success() {
        drop(step);
        return Err(t.runner.failed(&cmd, &out, Some(apply_hint(&out.stderr, t.manifest))).into());
    }
    step.done();
    Ok(())
}

fn apply_hint(stderr: &str, manifest: &Utf8Path) -> String {
    if stderr.contains("provided port is already allocated") {
        return format!(
            "another Service in the cluster already uses that NodePort (one of your own manifests?). kilter gives its services the top of the project's block, counting down; let your manifests count up from KILTER_PORT_BASE. The manifests are in {manifest}"
        );
    }
    if stderr.contains("conflict") {
        return format!(
            "another field manager changed a field kilter owns; kilter.yaml decides these objects. Reapply by hand with `--force-conflicts` ({manifest}), or delete the object and run `kilter up`"
        );
    }
    if stderr.contains("Forbidden") && stderr.contains("StatefulSet") {
        return "a StatefulSet's volume cannot change in place: `kilter remove` the service and add it again (its data is kept unless --prune-data)".to_owned();
    }
    format!("the manifests are in {manifest}")
}

/// `kubectl delete` of kilter's services matching `selector`; returns what it deleted.
fn delete_selected(
    t: &Target<'_>,
    selector: &str,
    prune_data: bool,
    what: &str,
) -> Result<Vec<Deleted>> {
    let cmd = t.kubectl.delete_selected_cmd(what, types(prune_data), t.namespace, selector);
    let out = t.runner.run(&cmd)?;
    Ok(kubectl::parse_deleted(&out.stdout))
}

/// Delete every service of kilter's that `keep` does not name (a service removed from
/// kilter.yaml). Its PersistentVolumeClaim stays unless `prune_data`.
pub fn delete_except(t: &Target<'_>, keep: &[String], prune_data: bool) -> Result<Vec<Deleted>> {
    let selector = if keep.is_empty() {
        managed_selector()
    } else {
        format!("{},{NAME_LABEL} notin ({})", managed_selector(), keep.join(","))
    };
    let deleted =
        delete_selected(t, &selector, prune_data, "delete services removed from kilter.yaml")?;
    report_deleted(t.ui, &deleted, prune_data);
    Ok(deleted)
}

/// Delete the services `names` (`kilter remove`).
pub fn delete_named(t: &Target<'_>, names: &[String], prune_data: bool) -> Result<Vec<Deleted>> {
    let selector = format!("{},{NAME_LABEL} in ({})", managed_selector(), names.join(","));
    let deleted = delete_selected(
        t,
        &selector,
        prune_data,
        &format!("delete services {}", names_list(names)),
    )?;
    report_deleted(t.ui, &deleted, prune_data);
    Ok(deleted)
}

fn report_deleted(ui: &Ui, deleted: &[Deleted], prune_data: bool) {
    // A StatefulSet: a service that had a data volume.
    let with_data: Vec<&str> = deleted
        .iter()
        .filter(|d| d.resource == "statefulset.apps")
        .map(|d| d.name.as_str())
        .collect();
    let services: BTreeSet<&str> = deleted
        .iter()
        .filter(|d| matches!(d.resource.as_str(), "statefulset.apps" | "deployment.apps"))
        .map(|d| d.name.as_str())
        .collect();
    if !services.is_empty() {
        let list: Vec<&str> = services.into_iter().collect();
        ui.info(&format!("Removed service {}", list.join(", ")));
    }
    if !prune_data && !with_data.is_empty() {
        let claims: Vec<String> = with_data.iter().map(|s| format!("{s}-data")).collect();
        ui.note(&format!(
            "the data of {} is kept in PersistentVolumeClaim {} (adding the service again reuses it; `--prune-data` deletes it)",
            with_data.join(", "),
            claims.join(", ")
        ));
    }
}

/// Wait until every service is ready, showing each one as it gets there. Past `timeout` (or the
/// runner's deadline): exit 5 naming the services that are not ready and why. A dry run prints
/// the wait as a bounded loop over `kubectl rollout status`.
pub fn wait_ready(t: &Target<'_>, services: &[Service], timeout: Duration) -> Result<()> {
    if services.is_empty() {
        return Ok(());
    }
    let ui = t.ui;
    let started = Instant::now();
    let wanted: Vec<(String, &str)> = services
        .iter()
        .map(|s| {
            let kind_word = match s.kind() {
                WorkloadKind::StatefulSet => "StatefulSet",
                WorkloadKind::Deployment => "Deployment",
            };
            (s.name.clone(), kind_word)
        })
        .collect();
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let step = ui.step(
        &format!("Waiting for services {} to be ready", names_list(&names)),
        &format!("wait until services {} are ready", names_list(&names)),
    );
    let probe = t.kubectl.get_selected_cmd(
        "read the state of kilter's services",
        "statefulsets,deployments,pods",
        t.namespace,
        &managed_selector(),
    );
    // The dry-run script waits with `kubectl rollout status` of each workload.
    let script_condition = services
        .iter()
        .map(|s| {
            format!(
                "{} >/dev/null 2>&1",
                t.kubectl.rollout_status_cmd(&s.reference(), t.namespace, "10s")
            )
        })
        .collect::<Vec<_>>()
        .join(" && ");
    let last: RefCell<Vec<Readiness>> = RefCell::new(Vec::new());
    let shown: RefCell<BTreeSet<String>> = RefCell::new(BTreeSet::new());
    let show_new = |states: &[Readiness]| {
        let mut shown = shown.borrow_mut();
        for r in states.iter().filter(|r| r.ready) {
            if shown.insert(r.name.clone()) {
                ui.info(&format!(
                    "  {} ready ({})",
                    r.name,
                    crate::ui::fmt_duration(started.elapsed())
                ));
            }
        }
    };
    let poll = Poll {
        what: "the services to be ready",
        probe: &probe,
        every: Duration::from_millis(500),
        max_in_flight: 2,
        max_age: Duration::from_secs(5),
        timeout: t.runner.remaining().map_or(timeout, |r| r.min(timeout)),
        script_condition: Some(script_condition),
    };
    let judge = |o: &Output| -> Option<Vec<Readiness>> {
        if !o.success() {
            return None;
        }
        kubectl::readiness(&o.stdout, &wanted).ok()
    };
    let done = |o: &Output| {
        let Some(states) = judge(o) else { return false };
        let all = states.iter().all(|r| r.ready);
        show_new(&states);
        *last.borrow_mut() = states;
        all
    };
    let seen = |o: &Output| match judge(o) {
        Some(states) => {
            let waiting: Vec<String> = states
                .iter()
                .filter(|r| !r.ready)
                .map(|r| format!("{} ({})", r.name, r.detail))
                .collect();
            ui.progress(&format!("Waiting for services: {}", waiting.join(", ")));
        }
        None => ui.progress(&format!("Waiting for services: {}", o.reason())),
    };
    match t.runner.poll(&poll, done, seen) {
        Ok(PollEnd::Done(_)) => {
            let took = step.done();
            ui.detail(&format!("services ready after {}", crate::ui::fmt_duration(took)));
            Ok(())
        }
        Ok(PollEnd::Planned) => {
            step.done();
            Ok(())
        }
        Err(e) if code_of(&e) == Code::Timeout => {
            drop(step);
            let states = last.borrow();
            let not_ready: Vec<String> = if states.is_empty() {
                names.iter().map(|n| format!("{n} (no answer from the cluster)")).collect()
            } else {
                states
                    .iter()
                    .filter(|r| !r.ready)
                    .map(|r| format!("{} ({})", r.name, r.detail))
                    .collect()
            };
            Err(Exit::new(
                Code::Timeout,
                format!(
                    "services not ready after {}: {}",
                    crate::ui::fmt_duration(started.elapsed()),
                    not_ready.join(", ")
                ),
            )
            .hint(format!(
                "see why with `kilter status` and `kilter logs <service>`; `kubectl describe pod -n {}` shows the events (image pulls take a while the first time: raise --timeout)",
                t.namespace
            ))
            .into())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal of the API server gets its own hint; any other, where the manifests are.
    #[test]
    fn apply_hints_follow_the_api_servers_refusal() {
        let manifest = Utf8Path::new("/c/services.yaml");
        let hint = |stderr: &str| apply_hint(stderr, manifest);
        assert!(
            hint(
                "spec.ports[0].nodePort: Invalid value: 30359: provided port is already allocated"
            )
            .starts_with("another Service in the cluster already uses that NodePort")
        );
        assert!(
            hint("Apply failed with 1 conflict: conflict with \"kubectl-edit\"")
                .starts_with("another field manager changed a field kilter owns")
        );
        assert!(hint("The StatefulSet \"redis\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than")
            .starts_with("a StatefulSet's volume cannot change in place"));
        // Forbidden, but not a StatefulSet's (a PersistentVolumeClaim's resize).
        assert_eq!(
            hint(
                "spec.resources.requests.storage: Forbidden: only dynamically provisioned pvc can be resized"
            ),
            "the manifests are in /c/services.yaml"
        );
    }
}
