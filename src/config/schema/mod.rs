//! What kilter.yaml may say: the typed [`Config`], and the walk over the YAML tree that
//! builds it, with a `file:line:column` error for a wrong type and a warning (with "did you
//! mean") for an unknown key.
//!
//! - `model.rs` — [`Config`] and its sections, with their defaults.
//! - `walk.rs` — the walk: the top level, the small sections, the readers of single values.
//! - `app.rs` — the app's fields (`dev`, `image`, `health`, `sync`).
//! - `services.rs` — the items of `services:`.
//! - `routes.rs` — `routes:` and their clashes with services.
//! - `names.rs` — project and service names: the rule, the checks, the normalisation.
//! - `messages.rs` — how a problem is reported: errors at a position, unknown keys, type
//!   errors, "did you mean".

mod app;
mod messages;
mod model;
mod names;
mod routes;
mod services;
mod walk;

pub(crate) use messages::describe;
pub use messages::suggest;
pub use model::{
    AppSection, At, ClusterSection, Config, Database, DevCommand, Engine, KindSection, RouteEntry,
    ServiceEntry, Var, Volume,
};
pub(crate) use names::validate_service_name;
pub use names::{MAX_NAME_LEN, normalize_name, validate_name};
pub(crate) use walk::config;

#[cfg(test)]
mod tests;
