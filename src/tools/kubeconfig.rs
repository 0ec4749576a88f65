//! Reading the project kubeconfig kilter owns (written by kind): the server of our context.

use camino::Utf8Path;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct KubeConfig {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
}

#[derive(Debug, Deserialize)]
struct NamedCluster {
    name: String,
    cluster: ClusterBody,
}
#[derive(Debug, Deserialize)]
struct ClusterBody {
    server: String,
}
#[derive(Debug, Deserialize)]
struct NamedContext {
    name: String,
    context: ContextBody,
}
#[derive(Debug, Deserialize)]
struct ContextBody {
    cluster: String,
}

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
    let Ok(kc) = serde_yaml::from_str::<KubeConfig>(text) else { return Check::NoContext };
    let Some(ctx) = kc.contexts.iter().find(|c| c.name == context) else { return Check::NoContext };
    let Some(cl) = kc.clusters.iter().find(|c| c.name == ctx.context.cluster) else {
        return Check::NoContext;
    };
    let port =
        cl.cluster.server.rsplit_once(':').and_then(|(_, p)| p.trim_end_matches('/').parse().ok());
    Check::Server { port, contexts: kc.contexts.len() }
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
    }
}
