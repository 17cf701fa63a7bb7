//! The integration suite: one binary, every test against the real server over HTTP.

mod audit;
mod auth;
mod binary;
mod calendar;
mod catalogue;
mod claims;
mod contacts;
mod contract;
mod defect_masks;
mod device_sets;
mod helpers;
mod junit;
mod matrix;
mod me;
mod migrations;
mod notifications;
mod ops;
mod organisations;
mod releases;
mod results;
mod roadmaps;
mod robustness;
mod security;
mod smtp;
mod web;
mod windows;
