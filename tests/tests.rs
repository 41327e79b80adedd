mod config_files;
mod conformance;
mod convergence;
mod e2e;
mod gitops;
mod requests;
mod safety_targets;
