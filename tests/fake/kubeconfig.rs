//! Kubeconfig files as kind writes them and kubectl/tilt read them.
//!
//! Files are handled as JSON values (so keys come out sorted, like sigs.k8s.io/yaml) and written
//! with serde_yaml. The fake certificate data embeds the node container's Id, which lets the fake
//! kubectl reject a stale kubeconfig that points at a recreated cluster (x509 error).

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::common::{base64_decode, base64_encode};

/// kind's path rules: `--kubeconfig`, else every `$KUBECONFIG` entry, else `$HOME/.kube/config`.
pub fn kind_paths(explicit: Option<&str>) -> Vec<PathBuf> {
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut out: Vec<PathBuf> = Vec::new();
    if let Some(env) = std::env::var_os("KUBECONFIG") {
        for p in std::env::split_paths(&env) {
            if !p.as_os_str().is_empty() && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        out.push(home_kube_config());
    }
    out
}

pub fn home_kube_config() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    Path::new(&home).join(".kube").join("config")
}

/// kind's `pathForMerge`: the only path, else the first existing one, else the last.
pub fn kind_merge_path(explicit: Option<&str>) -> PathBuf {
    let paths = kind_paths(explicit);
    if paths.len() == 1 {
        return paths[0].clone();
    }
    paths.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| paths[paths.len() - 1].clone())
}

/// Read a kubeconfig; a missing or empty file is an empty config.
pub fn read(path: &Path) -> Result<Value, String> {
    match fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Ok(json!({})),
        Ok(s) => {
            let v: Value = serde_yaml::from_str(&s).map_err(|e| format!("yaml: {e}"))?;
            Ok(if v.is_null() { json!({}) } else { v })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e.to_string()),
    }
}

/// Encode like kind: sorted keys, empty lists / empty current-context dropped, and nothing at
/// all for an empty config.
pub fn encode(cfg: &Value) -> String {
    let mut cfg = cfg.clone();
    if let Some(obj) = cfg.as_object_mut() {
        for key in ["clusters", "users", "contexts"] {
            if obj.get(key).and_then(Value::as_array).is_some_and(Vec::is_empty) {
                obj.remove(key);
            }
        }
        if obj.get("current-context").and_then(Value::as_str) == Some("") {
            obj.remove("current-context");
        }
        if obj.is_empty() {
            return String::new();
        }
    }
    serde_yaml::to_string(&cfg).expect("encode kubeconfig")
}

/// kind's lock: `<path>.lock` created with O_EXCL (parent dir created 0755 first).
pub struct FileLock(PathBuf);

impl FileLock {
    pub fn take(path: &Path) -> Result<FileLock, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(|e| e.to_string())?;
        }
        let lock = PathBuf::from(format!("{}.lock", path.display()));
        match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&lock) {
            Ok(_) => Ok(FileLock(lock)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                Err(format!("open {}: file exists", lock.display()))
            }
            Err(e) => Err(format!("open {}: {e}", lock.display())),
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Write 0600, creating the parent 0755 if needed.
pub fn write(path: &Path, cfg: &Value) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| format!("failed to create directory for KUBECONFIG: {e}"))?;
    }
    let data = encode(cfg);
    // os.WriteFile keeps the mode of an existing file; new files get 0600.
    let existed = path.exists();
    fs::write(path, data).map_err(|e| format!("failed to write KUBECONFIG: {e}"))?;
    if !existed {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// The three kind entries (and other fields) of cluster `name` served at `server`.
pub fn kind_config(name: &str, server: &str, container_id: &str) -> Value {
    let key = format!("kind-{name}");
    let ca = pem("CERTIFICATE", &format!("fake-kind-ca cluster={name} id={container_id}"));
    let cert = pem("CERTIFICATE", &format!("fake-kind-admin cluster={name}"));
    let keyd = pem("RSA PRIVATE KEY", &format!("fake-kind-admin-key cluster={name}"));
    json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": ca, "server": server}, "name": key}],
        "contexts": [{"context": {"cluster": key, "user": key}, "name": key}],
        "current-context": key,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": key, "user": {"client-certificate-data": cert, "client-key-data": keyd}}],
    })
}

/// base64 of a PEM block whose body names the fake identity (so it starts with `LS0tLS1CRUdJTi`).
fn pem(label: &str, identity: &str) -> String {
    let body = base64_encode(format!("{identity} {}", "x".repeat(96)).as_bytes());
    let wrapped: Vec<String> =
        body.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    base64_encode(
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", wrapped.join("\n"))
            .as_bytes(),
    )
}

/// The container Id a fake CA was issued for (None for non-fake CA data).
pub fn ca_container_id(ca_data_b64: &str) -> Option<String> {
    let pem = String::from_utf8(base64_decode(ca_data_b64)?).ok()?;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let text = String::from_utf8(base64_decode(&body)?).ok()?;
    text.split_whitespace().find_map(|w| w.strip_prefix("id=")).map(str::to_string)
}

fn upsert(list: &mut Value, entry: &Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    let arr = list.as_array_mut().expect("array");
    let name = &entry["name"];
    match arr.iter_mut().find(|e| &e["name"] == name) {
        Some(slot) => *slot = entry.clone(),
        None => arr.push(entry.clone()),
    }
}

/// kind's merge: replace-or-append the three entries, set current-context, and take the other
/// top-level fields from kind only if the existing file has none.
pub fn merge(existing: &mut Value, kind: &Value) {
    if !existing.is_object() {
        *existing = json!({});
    }
    let obj = existing.as_object_mut().expect("object");
    let has_other = obj
        .keys()
        .any(|k| !["clusters", "users", "contexts", "current-context"].contains(&k.as_str()));
    for key in ["clusters", "users", "contexts"] {
        let slot = obj.entry(key.to_string()).or_insert(json!([]));
        upsert(slot, &kind[key][0]);
    }
    obj.insert("current-context".into(), kind["current-context"].clone());
    if !has_other {
        for key in ["apiVersion", "kind", "preferences"] {
            obj.insert(key.into(), kind[key].clone());
        }
    }
}

/// Remove `kind-<name>` entries; true if anything changed.
pub fn remove_kind(cfg: &mut Value, name: &str) -> bool {
    let key = format!("kind-{name}");
    let Some(obj) = cfg.as_object_mut() else { return false };
    let mut changed = false;
    for list in ["clusters", "users", "contexts"] {
        if let Some(arr) = obj.get_mut(list).and_then(Value::as_array_mut) {
            let before = arr.len();
            arr.retain(|e| e["name"].as_str() != Some(key.as_str()));
            changed |= arr.len() != before;
        }
    }
    if obj.get("current-context").and_then(Value::as_str) == Some(key.as_str()) {
        obj.insert("current-context".into(), json!(""));
        changed = true;
    }
    changed
}

/// Merge kind's entries into the file at `path` under kind's O_EXCL lock.
pub fn write_merged(path: &Path, kind: &Value) -> Result<(), String> {
    let _lock = FileLock::take(path).map_err(|e| format!("failed to lock config file: {e}"))?;
    let mut existing = read(path).map_err(|e| format!("failed to get kubeconfig to merge: {e}"))?;
    merge(&mut existing, kind);
    write(path, &existing)
}

/// kind's `RemoveKIND` over every kind path.
pub fn remove_kind_everywhere(name: &str, explicit: Option<&str>) -> Result<(), String> {
    for path in kind_paths(explicit) {
        let _lock =
            FileLock::take(&path).map_err(|e| format!("failed to lock config file: {e}"))?;
        let mut existing = read(&path)
            .map_err(|e| format!("failed to read kubeconfig to remove KIND entry: {e}"))?;
        if remove_kind(&mut existing, name) {
            write(&path, &existing)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Client side (kubectl, tilt): load and resolve a context.

/// What a client resolved from its kubeconfig.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub cluster: String,
    pub server: String,
    pub ca_data: Option<String>,
    pub namespace: Option<String>,
}

/// Why a client could not resolve a context.
#[derive(Debug)]
pub enum ResolveError {
    /// No usable configuration: kubectl falls back to `http://localhost:8080`.
    NoConfig,
    /// `error: stat <P>: no such file or directory` (explicit path missing).
    Missing(String),
    /// `Error in configuration: …`
    Invalid(String),
    /// The context is in no loaded file. kubectl words this per command (see kubectl.rs `report`).
    NoContext(String),
}

/// Load like client-go: an explicit path must exist; otherwise the `$KUBECONFIG` list (missing
/// files ignored, first value wins) or `$HOME/.kube/config`.
pub fn client_load(explicit: Option<&str>) -> Result<Value, ResolveError> {
    let paths: Vec<PathBuf> = match explicit {
        Some(p) => {
            if !Path::new(p).exists() {
                return Err(ResolveError::Missing(format!("stat {p}: no such file or directory")));
            }
            vec![PathBuf::from(p)]
        }
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(env) => {
                std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()).collect()
            }
            None => vec![home_kube_config()],
        },
    };
    let mut merged = json!({"clusters": [], "users": [], "contexts": []});
    for p in paths {
        let v = read(&p).map_err(ResolveError::Invalid)?;
        for list in ["clusters", "users", "contexts"] {
            for e in v.get(list).and_then(Value::as_array).cloned().unwrap_or_default() {
                let arr = merged[list].as_array_mut().expect("array");
                if !arr.iter().any(|x| x["name"] == e["name"]) {
                    arr.push(e);
                }
            }
        }
        let cur = v.get("current-context").and_then(Value::as_str).unwrap_or("");
        if merged.get("current-context").is_none() && !cur.is_empty() {
            merged["current-context"] = json!(cur);
        }
    }
    Ok(merged)
}

/// Resolve `context` (or the current-context) to a server.
pub fn resolve(cfg: &Value, context: Option<&str>) -> Result<Resolved, ResolveError> {
    let name = match context.filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => match cfg.get("current-context").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => return Err(ResolveError::NoConfig),
        },
    };
    let find = |list: &str, n: &str| {
        cfg.get(list)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|e| e["name"].as_str() == Some(n)).cloned())
    };
    let Some(ctx) = find("contexts", &name) else {
        return Err(ResolveError::NoContext(name));
    };
    let cluster_name = ctx["context"]["cluster"].as_str().unwrap_or_default().to_string();
    let Some(cluster) = find("clusters", &cluster_name) else {
        return Err(ResolveError::Invalid(format!(
            "context \"{name}\" has a cluster \"{cluster_name}\" that does not exist"
        )));
    };
    let server = cluster["cluster"]["server"].as_str().unwrap_or_default().to_string();
    if server.is_empty() {
        return Err(ResolveError::Invalid("cluster has no server defined".into()));
    }
    Ok(Resolved {
        cluster: cluster_name,
        server,
        ca_data: cluster["cluster"]["certificate-authority-data"].as_str().map(str::to_string),
        namespace: ctx["context"]["namespace"].as_str().map(str::to_string),
    })
}

/// `https://127.0.0.1:41234` → ("127.0.0.1", 41234).
pub fn host_port(server: &str) -> (String, u16) {
    let rest = server.split("://").nth(1).unwrap_or(server);
    let hostport = rest.split('/').next().unwrap_or(rest);
    let default = if server.starts_with("http://") { 80 } else { 443 };
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.trim_matches(['[', ']']).to_string(), p.parse().unwrap_or(default)),
        None => (hostport.to_string(), default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_remove_roundtrip() {
        let mut cfg = json!({"clusters": [{"name": "other", "cluster": {"server": "https://x"}}],
                             "current-context": "other", "apiVersion": "v1", "kind": "Config"});
        merge(&mut cfg, &kind_config("a", "https://127.0.0.1:1234", "abcd"));
        assert_eq!(cfg["current-context"], "kind-a");
        assert_eq!(cfg["clusters"].as_array().unwrap().len(), 2);
        let ca = cfg["clusters"][1]["cluster"]["certificate-authority-data"].as_str().unwrap();
        assert!(ca.starts_with("LS0tLS1CRUdJTi"));
        assert_eq!(ca_container_id(ca).as_deref(), Some("abcd"));
        let text = encode(&cfg);
        assert!(text.contains("current-context: kind-a\n"), "{text}");
        assert!(remove_kind(&mut cfg, "a"));
        assert!(!encode(&cfg).contains("kind-a"));
        assert!(!encode(&cfg).contains("current-context"));
    }
}
