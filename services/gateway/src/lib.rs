#![doc = include_str!("../README.md")]

pub mod config;
pub mod metrics;
pub mod proxy;
pub mod rate_limit;
pub mod routing;
pub mod startup;
