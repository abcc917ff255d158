#![doc = include_str!("../README.md")]

pub mod audit;
pub mod buyers;
pub mod ceiling;
pub mod chart;
pub mod engine;
pub mod http;
pub mod machine;
pub mod queued;
pub mod report;
pub mod run;
pub mod sale;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod summary;
pub mod workload;
