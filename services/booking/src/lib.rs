#![doc = include_str!("../README.md")]

pub mod config;
pub mod confirmer;
pub mod domain;
pub mod error;
pub mod inventory;
pub mod library;
pub mod periodic;
pub mod publish;
pub mod queue;
pub mod recorder;
pub mod relay;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod sweeper;
