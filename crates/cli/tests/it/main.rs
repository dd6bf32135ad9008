//! The end-to-end tests of the `proximity` binary, as one test binary: each test binary
//! links the whole program (llama.cpp included), so one binary of modules links once
//! where a file per binary linked sixteen times (the layout of uv's `tests/it`).

mod common;
mod gateway_support;

mod backends;
mod check;
mod dashboard;
mod decisions;
mod drift;
mod eval_openai;
mod failures;
mod gateway;
mod gateway_replicas;
mod local_model;
mod memory;
mod probe_context;
mod probe_risk;
mod report;
mod transfer;
mod worker;
