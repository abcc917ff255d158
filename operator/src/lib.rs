#![doc = include_str!("../README.md")]

pub mod backend;
pub mod config;
pub mod controller;
pub mod crd;
pub mod resources;
pub mod startup;
pub mod status;

// Lets test support shared with the integration tests name this crate as they do.
#[cfg(test)]
extern crate self as operator;
#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod testsupport;
