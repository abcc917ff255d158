#![doc = include_str!("../README.md")]

pub mod auth;
pub mod config;
pub mod events;
pub mod extract;
pub mod health;
pub mod ids;
pub mod kafka;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod postgres;
pub mod problem;
pub mod redis;
pub mod server;
pub mod telemetry;
