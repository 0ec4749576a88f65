//! `kilter env [--json]`: shell-evaluable exports (bash/zsh) plus the Tilt URL as a comment.

use anyhow::Result;

use super::{Ctx, project_env};
use crate::exec::quote;

pub fn run(ctx: &Ctx<'_>, json: bool) -> Result<i32> {
    let project = ctx.project()?;
    let (ports, _) = crate::ports::preview(&ctx.dirs.port_registry(), &project.name)?;
    let env = project_env(&project, &ports);
    let url = format!("http://localhost:{}/", ports.tilt);
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            env.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let doc = serde_json::json!({ "schema_version": 1, "env": map, "tilt_url": url });
        ctx.ui.stdout(&(serde_json::to_string_pretty(&doc)? + "\n"));
        return Ok(0);
    }
    let mut out = String::new();
    for (k, v) in &env {
        out.push_str(&format!("export {k}={}\n", quote(v)));
    }
    out.push_str(&format!("# Tilt UI: {url}\n"));
    ctx.ui.stdout(&out);
    Ok(0)
}
