#![doc = include_str!("../README.md")]

pub mod access;
pub mod availability;
pub mod cache;
pub mod config;
pub mod domain;
pub mod error;
pub mod flashsale;
pub mod http;
pub mod routes;
pub mod search;
pub mod seed;
pub mod startup;
pub mod state;
pub mod store;
pub mod views;
