//! The end-to-end tests of the `proximity` binary, as one test binary: each test binary
//! links the whole program (llama.cpp included), so one binary of modules links once
//! where a file per binary linked sixteen times (the layout of uv's `tests/it`).
//!
//! Every module here shares one process and runs in parallel with the others: a test
//! that needs a process of its own (the allocator's resident memory, in [`memory`])
//! runs its body in a child process of this binary, and environment variables go to
//! the `proximity` command a test starts, never to this process.

mod common;
mod gateway_support;

mod backends;
mod capture;
mod check;
mod code_map;
mod dashboard;
mod dashboard_views;
mod decisions;
mod drift;
mod eval_openai;
mod eval_tools;
mod failures;
mod gateway;
mod gateway_proxy;
mod gateway_replicas;
mod gateway_translate;
mod import_promptfoo;
mod live_checks;
mod local_model;
mod memory;
mod mix;
mod otel;
mod probe_context;
mod probe_risk;
mod report;
mod schema;
mod transfer;
mod worker;
