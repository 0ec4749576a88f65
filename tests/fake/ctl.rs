//! `fake-tool ctl …`: test-side control of the fake state (never logged as a tool call).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::{KNOBS, Lock, pretty4, read_json, write_json};
use crate::docker;
use crate::state::Containers;
use crate::tilt;
use crate::workloads;

const USAGE: &str = "usage: fake-tool ctl <set KEY VALUE | unset KEY | knobs | daemon up|down|down-old | containers | inspect NAME | crash NAME | stats NAME [--cpu PERCENT] [--mem BYTES] | tilt-pids | tilt-records | workload NS NAME … | apply CLUSTER_OR_NODE NS FILE.json | log NS POD [-c C] LINE…>";

pub fn main(args: &[String]) -> i32 {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    if a.first() != Some(&"ctl") {
        errln!("{USAGE}");
        return 2;
    }
    let Some(state) = std::env::var_os("KILTER_FAKE_STATE").map(PathBuf::from) else {
        errln!("fake-tool ctl: KILTER_FAKE_STATE is not set");
        return 97;
    };
    let knobs_path = state.join("knobs.json");
    let _l = Lock::take(&state);
    match a[1..] {
        ["set", key, value] => {
            if !KNOBS.iter().any(|(k, _)| *k == key) {
                errln!(
                    "fake-tool ctl: unknown knob {key:?} (known: {})",
                    KNOBS.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
                );
                return 2;
            }
            if let Err(e) = validate(key, value) {
                errln!("fake-tool ctl: {e}");
                return 2;
            }
            let mut knobs: BTreeMap<String, String> = read_json(&knobs_path);
            knobs.insert(key.to_string(), value.to_string());
            write_json(&knobs_path, &knobs);
            0
        }
        ["unset", key] => {
            let mut knobs: BTreeMap<String, String> = read_json(&knobs_path);
            knobs.remove(key);
            write_json(&knobs_path, &knobs);
            0
        }
        ["knobs"] => {
            let knobs: BTreeMap<String, String> = read_json(&knobs_path);
            for (k, default) in KNOBS {
                outln!("{k}={}", knobs.get(*k).map(String::as_str).unwrap_or(default));
            }
            0
        }
        ["daemon", mode @ ("up" | "down" | "down-old")] => {
            let mut knobs: BTreeMap<String, String> = read_json(&knobs_path);
            knobs.insert("daemon".into(), mode.into());
            write_json(&knobs_path, &knobs);
            0
        }
        ["containers"] => {
            outln!("{}", pretty4(&Containers::load(&state)));
            0
        }
        ["inspect", name] => {
            let cs = Containers::load(&state);
            match cs.find(name) {
                Some(k) => {
                    outln!("{}", pretty4(&cs.containers[k].inspect));
                    0
                }
                None => {
                    errln!("fake-tool ctl: no such container: {name}");
                    1
                }
            }
        }
        ["crash", name] => {
            let mut cs = Containers::load(&state);
            let Some(k) = cs.find(name).map(str::to_string) else {
                errln!("fake-tool ctl: no such container: {name}");
                return 1;
            };
            let c = cs.containers.get_mut(&k).expect("container");
            if c.inspect.state.running {
                c.stop(137, true);
            }
            cs.save(&state);
            0
        }
        ["stats", name, ref rest @ ..] => {
            let cs = Containers::load(&state);
            let Some(k) = cs.find(name).map(str::to_string) else {
                errln!("fake-tool ctl: no such container: {name}");
                return 1;
            };
            let path = docker::stats_path(&state);
            let mut all: BTreeMap<String, docker::StatsOverride> = read_json(&path);
            let mut o = all.get(&k).copied().unwrap_or_default();
            let mut it = rest.iter();
            while let Some(flag) = it.next() {
                let v = it.next().copied().unwrap_or("");
                match *flag {
                    "--cpu" => match v.parse::<f64>() {
                        Ok(c) if c.is_finite() && c >= 0.0 => o.cpu = Some(c),
                        _ => {
                            errln!("fake-tool ctl: --cpu wants a percentage, got {v:?}");
                            return 2;
                        }
                    },
                    "--mem" => match v.parse::<u64>() {
                        Ok(m) => o.mem = Some(m),
                        Err(_) => {
                            errln!("fake-tool ctl: --mem wants bytes, got {v:?}");
                            return 2;
                        }
                    },
                    _ => {
                        errln!("{USAGE}");
                        return 2;
                    }
                }
            }
            all.insert(k, o);
            write_json(&path, &all);
            0
        }
        ["tilt-pids"] => {
            for r in tilt::live_records(&state) {
                outln!("{}", r.pid);
            }
            0
        }
        ["tilt-records"] => {
            outln!("{}", pretty4(&tilt::live_records(&state)));
            0
        }
        ["workload", ref rest @ ..] => report(workloads::ctl_workload(&state, rest)),
        ["apply", ref rest @ ..] => report(workloads::ctl_apply(&state, rest)),
        ["log", ref rest @ ..] => report(workloads::ctl_log(&state, rest)),
        _ => {
            errln!("{USAGE}");
            2
        }
    }
}

/// Knobs whose values have a fixed shape are checked when set (a typo would otherwise fall back
/// to the default silently).
fn validate(key: &str, value: &str) -> Result<(), String> {
    let ok = match key {
        "daemon" => matches!(value, "up" | "down" | "down-old"),
        "cgroup" => matches!(value, "auto" | "v1" | "v2"),
        "api_proxy_ms" => value.is_empty() || value == "never" || value.parse::<u64>().is_ok(),
        "apply_ready_ms" => value == "never" || value.parse::<u64>().is_ok(),
        "proxy_time_scale" | "exec_mbps" => {
            value.parse::<f64>().is_ok_and(|f| f.is_finite() && f >= 0.0)
        }
        "exec_cut_stdout" | "exec_cut_stdin" => {
            value.is_empty() || workloads::Cut::parse(value).is_some()
        }
        k if k.ends_with("_ms") || matches!(k, "mem_total" | "ncpu") => {
            value.parse::<u64>().is_ok()
        }
        _ => true,
    };
    if ok { Ok(()) } else { Err(format!("invalid value {value:?} for knob {key}")) }
}

/// Print a ctl result: its output (exit 0) or the error (exit 1).
fn report(r: Result<String, String>) -> i32 {
    match r {
        Ok(out) => {
            if !out.is_empty() {
                outln!("{out}");
            }
            0
        }
        Err(e) => {
            errln!("fake-tool ctl: {e}");
            1
        }
    }
}
