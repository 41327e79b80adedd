mod config_files;
mod conformance;
mod convergence;
mod e2e;
mod faults;
mod gitops;
mod safety_targets;
mod security;
