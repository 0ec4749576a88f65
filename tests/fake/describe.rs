//! Fake `kubectl get events -n NS` and `kubectl describe pods -n NS` (kubectl 1.32's table and
//! describe printers, laid out by Go's `text/tabwriter` as kubectl configures it).
//!
//! The fake keeps no event objects: the events are derived from the stored pods and their
//! owners, as the scheduler, kubelet and controllers would have recorded them — `Scheduled`
//! (or `FailedScheduling` for an unschedulable pod), `Pulled`/`Created`/`Started` per container
//! (repeated once per restart of a crash-looping one, plus its `BackOff` warning),
//! `SuccessfulCreate` on the ReplicaSet or StatefulSet and `ScalingReplicaSet` on the
//! Deployment.

use serde_json::Value;

use crate::args;
use crate::common::Ctx;
use crate::kubectl::{Conn, discovery_lines};
use crate::proxy::{Probe, connect_or_report};
use crate::timefmt::{kube_human_duration, now_ms, rfc1123z};

/// Go's `tabwriter` (no flags, padding with spaces): cells end at `\t`; a column's width is
/// the widest cell of the consecutive lines that have that column, plus `padding`, at least
/// `minwidth`. The text after a line's last tab is not aligned.
pub fn tabwrite(text: &str, minwidth: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    let mut out = vec![String::new(); lines.len()];
    format_block(&lines, 0, lines.len(), &mut widths, minwidth, padding, &mut out);
    out.join("\n")
}

fn cell_width(s: &str) -> usize {
    s.chars().count()
}

/// tabwriter's `format`: find the blocks of lines having column `widths.len()`, size it, recurse.
fn format_block(
    lines: &[Vec<&str>],
    mut line0: usize,
    line1: usize,
    widths: &mut Vec<usize>,
    minwidth: usize,
    padding: usize,
    out: &mut [String],
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(lines, line0, this, widths, out);
        line0 = this;
        let mut width = minwidth;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(cell_width(lines[this][column]) + padding);
            this += 1;
        }
        widths.push(width);
        format_block(lines, line0, this, widths, minwidth, padding, out);
        widths.pop();
        line0 = this;
    }
    write_lines(lines, line0, line1, widths, out);
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut [String]) {
    for i in from..to {
        let mut s = String::new();
        for (j, c) in lines[i].iter().enumerate() {
            s.push_str(c);
            if j + 1 < lines[i].len() && j < widths.len() {
                s.push_str(&" ".repeat(widths[j].saturating_sub(cell_width(c))));
            }
        }
        out[i] = s;
    }
}

/// One derived event.
struct Event {
    /// `pod/NAME`, `replicaset/NAME`, …
    object: String,
    /// The involved object's name (events are listed in name order: `<object>.<hex time>`).
    name: String,
    kind_: &'static str,
    reason: &'static str,
    message: String,
    source: &'static str,
    first_ms: u64,
    last_ms: u64,
    count: u64,
}

fn ms_of(v: &Value) -> Option<u64> {
    v.as_str().and_then(crate::timefmt::parse_rfc3339_ms)
}

/// The events of one pod (kubelet and scheduler).
fn pod_events(pod: &Value, ns: &str) -> Vec<Event> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let created = ms_of(&pod["metadata"]["creationTimestamp"]).unwrap_or_else(now_ms);
    let object = format!("pod/{name}");
    let ev = |kind_, reason, message: String, source, first_ms, last_ms, count| Event {
        object: object.clone(),
        name: name.clone(),
        kind_,
        reason,
        message,
        source,
        first_ms,
        last_ms,
        count,
    };
    let mut out = Vec::new();
    match pod["spec"]["nodeName"].as_str() {
        Some(node) => out.push(ev(
            "Normal",
            "Scheduled",
            format!("Successfully assigned {ns}/{name} to {node}"),
            "default-scheduler",
            created,
            created,
            1,
        )),
        None => {
            let msg = pod["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
                .and_then(|c| c["message"].as_str())
                .unwrap_or("0/1 nodes are available")
                .to_string();
            out.push(ev(
                "Warning",
                "FailedScheduling",
                msg,
                "default-scheduler",
                created,
                created,
                1,
            ));
            return out;
        }
    }
    let images: Vec<(String, String)> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_string(),
                        c["image"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let now = now_ms();
    for st in pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default() {
        let cname = st["name"].as_str().unwrap_or_default();
        let image =
            images.iter().find(|(n, _)| n == cname).map(|(_, i)| i.clone()).unwrap_or_default();
        let restarts = st["restartCount"].as_u64().unwrap_or(0);
        let waiting = st["state"]["waiting"]["reason"].as_str() == Some("CrashLoopBackOff");
        let at = created.saturating_add(1000);
        let last = if restarts > 0 { now.saturating_sub(5000).max(at) } else { at };
        let n = restarts + 1;
        out.push(ev(
            "Normal",
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
            "kubelet",
            at,
            last,
            n,
        ));
        out.push(ev(
            "Normal",
            "Created",
            format!("Created container: {cname}"),
            "kubelet",
            at,
            last,
            n,
        ));
        out.push(ev(
            "Normal",
            "Started",
            format!("Started container {cname}"),
            "kubelet",
            at,
            last,
            n,
        ));
        if waiting {
            out.push(ev(
                "Warning",
                "BackOff",
                format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})"),
                "kubelet",
                at.saturating_add(2000),
                now.saturating_sub(2000).max(at),
                restarts.max(1),
            ));
        }
    }
    out
}

/// Every event of the namespace, in the order the API lists them (by event name).
fn namespace_events(conn: &Conn, ns: &str) -> Vec<Event> {
    let pods = conn.store.list_namespaced(ns, "pods");
    let replicasets = conn.store.list_namespaced(ns, "replicasets");
    let mut out = Vec::new();
    let mut owners: Vec<(String, String, u64, Vec<String>)> = Vec::new(); // kind, name, first, pods
    for pod in pods.values() {
        out.extend(pod_events(pod, ns));
        let created = ms_of(&pod["metadata"]["creationTimestamp"]).unwrap_or_else(now_ms);
        if let Some(o) = pod["metadata"]["ownerReferences"].get(0) {
            let (k, n) =
                (o["kind"].as_str().unwrap_or_default(), o["name"].as_str().unwrap_or_default());
            let pname = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            match owners.iter_mut().find(|(ok, on, _, _)| ok == k && on == n) {
                Some(e) => {
                    e.2 = e.2.min(created);
                    e.3.push(pname);
                }
                None => owners.push((k.to_string(), n.to_string(), created, vec![pname])),
            }
        }
    }
    for (kind, name, first, pod_names) in owners {
        for (i, p) in pod_names.iter().enumerate() {
            let (object, source, message) = match kind.as_str() {
                "ReplicaSet" => (
                    format!("replicaset/{name}"),
                    "replicaset-controller",
                    format!("Created pod: {p}"),
                ),
                "StatefulSet" => (
                    format!("statefulset/{name}"),
                    "statefulset-controller",
                    format!("create Pod {p} in StatefulSet {name} successful"),
                ),
                _ => continue,
            };
            let at = first.saturating_sub(100).saturating_add(i as u64);
            out.push(Event {
                object,
                name: name.clone(),
                kind_: "Normal",
                reason: "SuccessfulCreate",
                message,
                source,
                first_ms: at,
                last_ms: at,
                count: 1,
            });
        }
        if kind == "ReplicaSet"
            && let Some(rs) = replicasets.get(&name)
            && let Some(dep) = rs["metadata"]["ownerReferences"].get(0)
        {
            let dname = dep["name"].as_str().unwrap_or_default().to_string();
            let replicas = rs["spec"]["replicas"].as_u64().unwrap_or(pod_names.len() as u64);
            let at = first.saturating_sub(200);
            out.push(Event {
                object: format!("deployment/{dname}"),
                name: dname,
                kind_: "Normal",
                reason: "ScalingReplicaSet",
                message: format!("Scaled up replica set {name} from 0 to {replicas}"),
                source: "deployment-controller",
                first_ms: at,
                last_ms: at,
                count: 1,
            });
        }
    }
    // Events are listed by name, `<involved object>.<hex time>`.
    out.sort_by_key(|e| format!("{}.{:016x}", e.name, e.first_ms));
    out
}

fn connect(ctx: &Ctx, p: &args::Parsed, arg: &str) -> Result<Conn, i32> {
    connect_or_report(ctx, p, Probe::Discovery(discovery_lines(Some(arg))), |_| {})
}

/// `kubectl get events -n NS` (the table; `-o` is not modelled here).
pub fn get_events(ctx: &Ctx, p: &args::Parsed) -> i32 {
    if p.pos.len() != 2 || p.has("--all-namespaces") || p.get("--selector").is_some() {
        return ctx.unexpected();
    }
    let conn = match connect(ctx, p, "events") {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ns = conn.namespace.clone();
    let events = {
        let _l = ctx.lock();
        namespace_events(&conn, &ns)
    };
    if events.is_empty() {
        errln!("No resources found in {ns} namespace.");
        return 0;
    }
    let now = now_ms();
    let mut t = String::from("LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE\n");
    for e in &events {
        t.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            kube_human_duration(now.saturating_sub(e.last_ms)),
            e.kind_,
            e.reason,
            e.object,
            e.message
        ));
    }
    out!("{}", tabwrite(&t, 6, 3));
    0
}

/// `kubectl describe pods -n NS`: every pod of the namespace, two blank lines apart.
pub fn describe(ctx: &Ctx, p: &args::Parsed) -> i32 {
    let Some(what) = p.pos.get(1) else { return ctx.unexpected() };
    if !matches!(what.as_str(), "pods" | "pod" | "po") || p.pos.len() > 3 {
        return ctx.unexpected();
    }
    let conn = match connect(ctx, p, what) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let ns = conn.namespace.clone();
    let (pods, events) = {
        let _l = ctx.lock();
        (conn.store.list_namespaced(&ns, "pods"), namespace_events(&conn, &ns))
    };
    let pods: Vec<&Value> = match p.pos.get(2) {
        Some(name) => match pods.get(name) {
            Some(pod) => vec![pod],
            None => {
                errln!("Error from server (NotFound): pods \"{name}\" not found");
                return 1;
            }
        },
        None => pods.values().collect(),
    };
    if pods.is_empty() {
        errln!("No resources found in {ns} namespace.");
        return 0;
    }
    let texts: Vec<String> = pods.iter().map(|pod| describe_pod(pod, &events)).collect();
    out!("{}", texts.join("\n\n"));
    0
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

/// One pod, as `kubectl describe pod` prints it.
fn describe_pod(pod: &Value, events: &[Event]) -> String {
    let m = &pod["metadata"];
    let spec = &pod["spec"];
    let status = &pod["status"];
    let name = m["name"].as_str().unwrap_or_default();
    let mut w = String::new();
    let mut line = |s: String| {
        w.push_str(&s);
        w.push('\n');
    };
    line(format!("Name:\t{name}"));
    line(format!("Namespace:\t{}", m["namespace"].as_str().unwrap_or_default()));
    line(format!("Priority:\t{}", spec["priority"].as_i64().unwrap_or(0)));
    line(format!("Service Account:\t{}", spec["serviceAccountName"].as_str().unwrap_or("default")));
    match spec["nodeName"].as_str() {
        Some(node) => {
            line(format!("Node:\t{node}/{}", status["hostIP"].as_str().unwrap_or_default()))
        }
        None => line("Node:\t<none>".into()),
    }
    if let Some(t) = ms_of(&status["startTime"]) {
        line(format!("Start Time:\t{}", rfc1123z(t)));
    }
    let labels: Vec<String> = m["labels"]
        .as_object()
        .map(|l| l.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
        .unwrap_or_default();
    match labels.split_first() {
        None => line("Labels:\t<none>".into()),
        Some((first, rest)) => {
            line(format!("Labels:\t{first}"));
            for l in rest {
                line(format!("\t{l}"));
            }
        }
    }
    line("Annotations:\t<none>".into());
    line(format!("Status:\t{}", status["phase"].as_str().unwrap_or("Unknown")));
    line(format!("IP:\t{}", status["podIP"].as_str().unwrap_or_default()));
    match status["podIPs"].as_array().filter(|a| !a.is_empty()) {
        None => line("IPs:\t<none>".into()),
        Some(ips) => {
            line("IPs:".into());
            for ip in ips {
                line(format!("  IP:\t{}", ip["ip"].as_str().unwrap_or_default()));
            }
        }
    }
    if let Some(o) = m["ownerReferences"].get(0) {
        line(format!(
            "Controlled By:\t{}/{}",
            o["kind"].as_str().unwrap_or_default(),
            o["name"].as_str().unwrap_or_default()
        ));
    }
    line("Containers:".into());
    let statuses = status["containerStatuses"].as_array().cloned().unwrap_or_default();
    let mut volume = String::new();
    for c in spec["containers"].as_array().cloned().unwrap_or_default() {
        let cname = c["name"].as_str().unwrap_or_default();
        let st = statuses.iter().find(|s| s["name"] == cname);
        line(format!("  {cname}:"));
        if let Some(st) = st {
            line(format!("    Container ID:\t{}", st["containerID"].as_str().unwrap_or_default()));
        }
        line(format!("    Image:\t{}", c["image"].as_str().unwrap_or_default()));
        if let Some(st) = st {
            line(format!("    Image ID:\t{}", st["imageID"].as_str().unwrap_or_default()));
        }
        line("    Port:\t<none>".into());
        line("    Host Port:\t<none>".into());
        if let Some(st) = st {
            state_lines(&mut line, "State", &st["state"]);
            if st["lastState"].as_object().is_some_and(|o| !o.is_empty()) {
                state_lines(&mut line, "Last State", &st["lastState"]);
            }
            let ready = if st["ready"].as_bool().unwrap_or(false) { "True" } else { "False" };
            line(format!("    Ready:\t{ready}"));
            line(format!("    Restart Count:\t{}", st["restartCount"].as_u64().unwrap_or(0)));
        }
        line("    Environment:\t<none>".into());
        line("    Mounts:".into());
        for vm in c["volumeMounts"].as_array().cloned().unwrap_or_default() {
            let v = vm["name"].as_str().unwrap_or_default();
            volume = v.to_string();
            let ro = if vm["readOnly"].as_bool().unwrap_or(false) { "ro" } else { "rw" };
            line(format!("      {} from {v} ({ro})", vm["mountPath"].as_str().unwrap_or_default()));
        }
    }
    line("Conditions:".into());
    line("  Type\tStatus".into());
    for c in status["conditions"].as_array().cloned().unwrap_or_default() {
        line(format!(
            "  {} \t{} ",
            c["type"].as_str().unwrap_or_default(),
            c["status"].as_str().unwrap_or_default()
        ));
    }
    if volume.is_empty() {
        line("Volumes:\t<none>".into());
    } else {
        line("Volumes:".into());
        line(format!("  {volume}:"));
        line(
            "    Type:\tProjected (a volume that contains injected data from multiple sources)"
                .into(),
        );
        line("    TokenExpirationSeconds:\t3607".into());
        line("    ConfigMapName:\tkube-root-ca.crt".into());
        line("    Optional:\tfalse".into());
        line("    DownwardAPI:\ttrue".into());
    }
    line(format!("QoS Class:\t{}", status["qosClass"].as_str().unwrap_or("BestEffort")));
    line("Node-Selectors:\t<none>".into());
    let tolerations: Vec<String> = spec["tolerations"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    format!(
                        "{}:{} op={} for {}s",
                        t["key"].as_str().unwrap_or_default(),
                        t["effect"].as_str().unwrap_or_default(),
                        t["operator"].as_str().unwrap_or("Equal"),
                        t["tolerationSeconds"].as_i64().unwrap_or(0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    match tolerations.split_first() {
        None => line("Tolerations:\t<none>".into()),
        Some((first, rest)) => {
            line(format!("Tolerations:\t{first}"));
            for t in rest {
                line(format!("\t{t}"));
            }
        }
    }
    let mut mine: Vec<&Event> =
        events.iter().filter(|e| e.object == format!("pod/{name}")).collect();
    mine.sort_by_key(|e| e.last_ms);
    if mine.is_empty() {
        line("Events:\t<none>".into());
    } else {
        line("Events:".into());
        line("  Type\tReason\tAge\tFrom\tMessage".into());
        line("  ----\t------\t----\t----\t-------".into());
        let now = now_ms();
        for e in mine {
            let first = kube_human_duration(now.saturating_sub(e.first_ms));
            let age = if e.count > 1 {
                format!(
                    "{} (x{} over {first})",
                    kube_human_duration(now.saturating_sub(e.last_ms)),
                    e.count
                )
            } else {
                first
            };
            line(format!("  {}\t{}\t{age}\t{}\t{}", e.kind_, e.reason, e.source, e.message));
        }
    }
    tabwrite(&w, 0, 2)
}

/// `State:` / `Last State:` and the lines under it.
fn state_lines(line: &mut impl FnMut(String), label: &str, state: &Value) {
    if let Some(r) = state.get("running") {
        line(format!("    {label}:\tRunning"));
        if let Some(t) = ms_of(&r["startedAt"]) {
            line(format!("      Started:\t{}", rfc1123z(t)));
        }
    } else if let Some(wt) = state.get("waiting") {
        line(format!("    {label}:\tWaiting"));
        line(format!("      Reason:\t{}", or_none(wt["reason"].as_str().unwrap_or_default())));
    } else if let Some(t) = state.get("terminated") {
        line(format!("    {label}:\tTerminated"));
        line(format!("      Reason:\t{}", or_none(t["reason"].as_str().unwrap_or_default())));
        line(format!("      Exit Code:\t{}", t["exitCode"].as_i64().unwrap_or(0)));
        if let Some(s) = ms_of(&t["startedAt"]) {
            line(format!("      Started:\t{}", rfc1123z(s)));
        }
        if let Some(f) = ms_of(&t["finishedAt"]) {
            line(format!("      Finished:\t{}", rfc1123z(f)));
        }
    } else {
        line(format!("    {label}:\tWaiting"));
    }
}

#[cfg(test)]
mod tests {
    use super::tabwrite;

    #[test]
    fn tabwriter_blocks_like_go() {
        // A line without a tab ends the column block; the last cell is never padded.
        let t =
            "Name:\tx\nService Account:\tdefault\nIPs:\n  IP:\t10.0.0.1\nControlled By:\tRS/a\n";
        assert_eq!(
            tabwrite(t, 0, 2),
            "Name:             x\nService Account:  default\nIPs:\n  IP:           10.0.0.1\nControlled By:  RS/a\n"
        );
        assert_eq!(tabwrite("A\tBB\tC\nAAAA\tB\tC\n", 6, 3), "A      BB    C\nAAAA   B     C\n");
    }
}
