//! One module per subcommand: orchestration only. Ops print through the `Ui`, have every effect
//! through the `Runner` (which performs it, or prints it in a dry run: ops never ask which), and
//! return `anyhow` errors with context. No op imports another op; what several share lives in
//! `context` (re-exported here), in `lifecycle` (bringing a cluster up and its services, deleting
//! it; the services helpers are re-exported here) or in a domain module (`project`, `ports`, `tools::*`, …).

pub mod add;
pub mod catalog;
pub mod ci;
pub mod completions;
pub mod db;
pub mod destroy;
pub mod doctor;
pub mod down;
pub mod eject;
pub mod env;
pub mod exec;
pub mod gc;
pub mod init;
pub mod logs;
pub mod ls;
pub mod registry;
pub mod remove;
pub mod render;
pub mod restart;
pub mod router;
pub mod status;
pub mod stop;
pub mod up;

pub use crate::context::{Ctx, project_env, tilt_files};
pub use crate::lifecycle::services::{
    Deploy, assign_nodeports, deploy_services, preview_nodeports, running_cluster, service_lines,
    services_of,
};
