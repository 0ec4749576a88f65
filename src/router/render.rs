//! Caddy's JSON configuration for the routes, with the 503 and 404 pages it answers. Pure and
//! deterministic (golden tested).

use camino::Utf8Path;
use serde_json::{Value, json};

use super::{ADMIN_LISTEN, NodeState, Route, Target};

/// Escape text for HTML, and `{` too: Caddy replaces `{placeholders}` in a response body.
fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '{' => o.push_str("&#123;"),
            '}' => o.push_str("&#125;"),
            _ => o.push(c),
        }
    }
    o
}

fn page(title: &str, lines: &[String]) -> String {
    let mut s = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\n<body style=\"font-family: sans-serif; margin: 3em\">\n<h1>{t}</h1>\n",
        t = html(title)
    );
    for l in lines {
        s.push_str(&format!("<p>{l}</p>\n"));
    }
    s.push_str("</body></html>\n");
    s
}

/// The 503 page of a project that is not running.
pub fn down_page(project: &str, dir: Option<&Utf8Path>, state: NodeState) -> String {
    let what = match state {
        NodeState::Stopped => "is stopped",
        _ => "has no cluster",
    };
    let run = match dir {
        Some(d) => {
            format!("Run <code>kilter up</code> in <code>{}</code> to start it.", html(d.as_str()))
        }
        None => "Run <code>kilter up</code> in its directory to start it.".to_owned(),
    };
    page(&format!("kilter project {project} {what}"), &[run])
}

fn no_such_page(project: &str, names: &[String]) -> String {
    let mut lines = vec![format!(
        "Project <code>{}</code> runs, but nothing answers at this name.",
        html(project)
    )];
    if names.is_empty() {
        lines.push(
            "It has no app and no service with a web UI yet (<code>kilter env</code> lists its addresses)."
                .to_owned(),
        );
    } else {
        let list: Vec<String> = names.iter().map(|h| format!("<code>{}</code>", html(h))).collect();
        lines.push(format!("Its names: {}", list.join(", ")));
    }
    page("No such name", &lines)
}

fn static_response(status: u16, body: String) -> Value {
    json!({
        "handler": "static_response",
        "status_code": status,
        "headers": {"Content-Type": ["text/html; charset=utf-8"]},
        "body": body,
    })
}

/// Caddy's JSON configuration for `routes`: one HTTP server on the container's port 80, no
/// automatic HTTPS, the routes in order, and a last 404 for any other name. Deterministic: the
/// same routes give the same bytes (and none depends on the host port, so the file is written
/// once, before the router is created).
pub fn render(routes: &[Route]) -> String {
    let mut list: Vec<Value> = routes
        .iter()
        .map(|r| {
            let handle = match &r.target {
                Target::Proxy { dial } => {
                    json!({"handler": "reverse_proxy", "upstreams": [{"dial": dial}]})
                }
                Target::Down { project, dir, state } => {
                    static_response(503, down_page(project, dir.as_deref(), *state))
                }
                Target::NoSuchName { project, names } => {
                    static_response(404, no_such_page(project, names))
                }
            };
            json!({"match": [{"host": r.hosts}], "handle": [handle], "terminal": true})
        })
        .collect();
    list.push(json!({
        "handle": [static_response(404, page("No such name", &[
            "No kilter project answers at <code>{http.request.host}</code>. <code>kilter ls</code> lists the projects on this machine.".to_owned(),
        ]))],
        "terminal": true,
    }));
    let config = json!({
        "admin": {"listen": ADMIN_LISTEN},
        "apps": {"http": {"servers": {"kilter": {
            "listen": [":80"],
            "automatic_https": {"disable": true},
            "routes": list,
        }}}},
    });
    let mut s = serde_json::to_string_pretty(&config).unwrap_or_default();
    s.push('\n');
    s
}
