//! kilter's integration tests: one binary, fake tools on a PATH that holds nothing else.
#![allow(clippy::unwrap_used, clippy::disallowed_methods, unreachable_pub)]

mod support;

mod app;
mod ci;
mod concurrency;
mod contract;
mod db;
mod dotenv;
mod errors;
mod fake_selftest;
mod fake_workloads;
mod helpers;
mod input;
mod inspect;
mod json_docs;
mod lifecycle;
mod many;
mod operate;
mod output;
mod real_docker;
mod real_docker_registry;
mod real_docker_router;
mod real_kind;
mod real_tilt;
mod realworld;
mod registry;
mod replay;
mod router;
mod services;
mod stream;
mod structure;
mod tilt;
mod uncovered;
mod untouched;
