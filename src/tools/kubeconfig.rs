//! Reading the project kubeconfig kilter owns (written by kind): the server of our context.
//! Parsed with the same YAML tree as kilter.yaml (`config/span.rs`).

use camino::Utf8Path;

use crate::config::span::{self, Node};

/// What kilter checks before trusting the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Missing,
    /// Unparseable, or without our context.
    NoContext,
    /// The context's server port.
    Server {
        port: Option<u16>,
        contexts: usize,
    },
}

pub fn check_text(text: &str, context: &str) -> Check {
    let Ok(tree) = span::parse(text.strip_prefix('\u{feff}').unwrap_or(text)) else {
        return Check::NoContext;
    };
    let Some(root) = &tree.root else { return Check::NoContext };
    let list = |key: &str| -> Vec<&Node> {
        let items = root.get(key).and_then(|(_, v)| tree.deref(v).items()).unwrap_or_default();
        items.iter().map(|item| tree.deref(item)).collect()
    };
    let field = |node: &Node, path: &[&str]| -> Option<String> {
        let mut node = node;
        for key in path {
            node = tree.deref(node.get(key)?.1);
        }
        node.text().map(str::to_owned)
    };
    let contexts = list("contexts");
    let Some(ctx) = contexts.iter().find(|c| field(c, &["name"]).as_deref() == Some(context))
    else {
        return Check::NoContext;
    };
    let Some(cluster) = field(ctx, &["context", "cluster"]) else { return Check::NoContext };
    let clusters = list("clusters");
    let Some(server) = clusters
        .iter()
        .find(|c| field(c, &["name"]).as_deref() == Some(cluster.as_str()))
        .and_then(|c| field(c, &["cluster", "server"]))
    else {
        return Check::NoContext;
    };
    let port = server.rsplit_once(':').and_then(|(_, p)| p.trim_end_matches('/').parse().ok());
    Check::Server { port, contexts: contexts.len() }
}

pub fn check(path: &Utf8Path, context: &str) -> Check {
    match std::fs::read_to_string(path) {
        Ok(t) => check_text(&t, context),
        Err(_) => Check::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_server_port_of_our_context() {
        let t = include_str!("../../fixtures/kind/kubeconfig.yaml");
        assert_eq!(
            check_text(t, "kind-kilter-shop"),
            Check::Server { port: Some(41234), contexts: 1 }
        );
        assert_eq!(check_text(t, "kind-other"), Check::NoContext);
        assert_eq!(check_text("not: [yaml", "kind-kilter-shop"), Check::NoContext);
        // Flow style, another context first, a server without a port.
        let t = "{contexts: [{name: a, context: {cluster: c}}, {name: b, context: {cluster: d}}], \
                 clusters: [{name: d, cluster: {server: 'https://x'}}, {name: c, cluster: {server: 'https://h:6443/'}}]}";
        assert_eq!(check_text(t, "a"), Check::Server { port: Some(6443), contexts: 2 });
        assert_eq!(check_text(t, "b"), Check::Server { port: None, contexts: 2 });
        assert_eq!(
            check_text("contexts: [{name: a, context: {cluster: c}}]", "a"),
            Check::NoContext
        );
        assert_eq!(check_text("", "a"), Check::NoContext);
    }
}
