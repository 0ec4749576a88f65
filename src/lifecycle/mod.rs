//! The steps of a cluster's life that more than one command takes: bringing it up and healthy
//! (`kilter up`, `kilter ci`) and deleting it with its runtime files (`kilter destroy`,
//! `kilter ci`). Orchestration like the ops, but no op of its own: an op calls these steps and
//! decides what comes before and after (confirmations, Tilt, summaries).

pub mod destroy;
pub mod up;
