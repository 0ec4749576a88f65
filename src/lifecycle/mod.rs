//! The steps of a cluster's life that more than one command takes: bringing it up and healthy
//! (`kilter up`, `kilter ci`), its kilter.yaml services (`up`, `ci`, `add`, `remove`), and
//! deleting it with its runtime files (`kilter destroy`, `kilter ci`). Orchestration like the ops, but no op of its own: an op calls these steps and
//! decides what comes before and after (confirmations, Tilt, summaries).

pub mod destroy;
pub mod services;
pub mod snapshot;
pub mod up;
pub mod workload;
