#![doc = include_str!("../README.md")]

pub mod config;
pub mod domain;
pub mod error;
pub mod keys;
pub mod password;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod throttle;
