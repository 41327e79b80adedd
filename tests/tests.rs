mod config_files;
mod e2e;
mod faults;
mod security;
