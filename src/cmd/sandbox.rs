//! `fleetform sandbox`: serves the Traccar-compatible in-memory server until stopped.

use crate::cli::SandboxArgs;
use crate::exit;
use traccar_sandbox::{SandboxConfig, serve};

pub async fn run(args: &SandboxArgs) -> anyhow::Result<i32> {
    let config = SandboxConfig {
        version: args.traccar_version.parse()?,
        latency: std::time::Duration::from_millis(args.latency_ms),
        max_requests_per_sec: args.max_requests_per_sec,
        registration: args.registration,
    };
    serve(config, args.listen).await?;
    Ok(exit::OK)
}
