#![doc = include_str!("../README.md")]

pub mod booking_client;
pub mod bookings;
pub mod charging;
pub mod config;
pub mod domain;
pub mod error;
pub mod psp;
pub mod relay;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod sync;
