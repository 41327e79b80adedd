mod conformance;
mod config_files;
mod convergence;
mod e2e;
mod gitops;
