//! The integration tests, one module per area, in one test binary: each drives the built
//! `betterform` over fixture impl dirs from `testdata/` copied to a temp dir (see `common`).
//! One binary links once, where one per file linked the whole dependency tree each time.
//! The fuzz targets (`tests/fuzz.rs`) stay a binary of their own: CI runs them for a time.

mod architecture;
mod common;
mod completion;
mod config_cache;
mod dag_file;
mod docs;
mod errors;
mod example;
mod export;
mod gitlab_local;
mod ignore;
mod incremental;
mod inputs;
mod inspect;
mod jsonnet_cli;
mod jsonnet_errors;
mod logs;
mod original;
mod proof;
mod run;
mod signals;
mod snapshots;
mod stamping;
mod stat_index;
mod status;
mod step_secrets;
mod steps;
mod syntax;
mod timings;
mod verbs;
