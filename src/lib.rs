//! Varlor: connect to databases and look at production data from a terminal.

pub mod agent;
pub mod app;
pub mod bundle;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod dataset;
pub mod demo;
pub mod display;
pub mod logging;
pub mod ops;
pub mod profile;
pub mod sources;
pub mod store;
pub mod ui;
