#![doc = include_str!("../README.md")]

pub mod backend;
pub mod config;
pub mod controller;
pub mod crd;
pub mod resources;
pub mod startup;
pub mod status;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod testsupport;
