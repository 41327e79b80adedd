//! `fleetform sandbox`: serves an in-memory server until stopped: the Traccar-compatible one
//! (`--kind traccar`, the default) or the telematics user service (`--kind telematics`), which
//! prints its instance id, credentials and URL first. Flags of the other kind are refused.

use std::time::Duration;

use anyhow::bail;

use crate::cli::{SandboxArgs, SandboxKind};
use crate::exit;

pub async fn run(args: &SandboxArgs) -> anyhow::Result<i32> {
    match args.kind {
        SandboxKind::Traccar => traccar(args).await?,
        SandboxKind::Telematics => telematics(args).await?,
    }
    Ok(exit::OK)
}

async fn traccar(args: &SandboxArgs) -> anyhow::Result<()> {
    let telematics_only = [
        ("--token-lifetime-secs", args.token_lifetime_secs.is_some()),
        ("--login-limit", args.login_limit.is_some()),
        ("--login-window-secs", args.login_window_secs.is_some()),
        ("--login-block-secs", args.login_block_secs.is_some()),
        ("--max-page-size", args.max_page_size.is_some()),
        ("--create-many", args.create_many),
    ];
    if let Some((flag, _)) = telematics_only.iter().find(|(_, set)| *set) {
        bail!("{flag} is a telematics sandbox flag; add --kind telematics or leave it out");
    }
    let config = traccar_sandbox::SandboxConfig {
        version: args.traccar_version.parse()?,
        latency: Duration::from_millis(args.latency_ms),
        max_requests_per_sec: args.max_requests_per_sec,
        registration: args.registration,
    };
    traccar_sandbox::serve(config, args.listen).await
}

async fn telematics(args: &SandboxArgs) -> anyhow::Result<()> {
    let traccar_only = [
        (
            "--max-requests-per-sec",
            args.max_requests_per_sec.is_some(),
        ),
        ("--registration", args.registration),
    ];
    if let Some((flag, _)) = traccar_only.iter().find(|(_, set)| *set) {
        bail!("{flag} is a Traccar sandbox flag; it does not apply to --kind telematics");
    }
    let mut config = telematics_sandbox::SandboxConfig {
        latency: Duration::from_millis(args.latency_ms),
        max_page_size: args.max_page_size,
        create_many: args.create_many,
        ..telematics_sandbox::SandboxConfig::default()
    };
    if let Some(secs) = args.token_lifetime_secs {
        config.access_token_lifetime = Duration::from_secs(secs);
    }
    let mut limit = telematics_sandbox::LoginLimit::default();
    if let Some(max) = args.login_limit {
        limit.max = max;
    }
    if let Some(secs) = args.login_window_secs {
        limit.window = Duration::from_secs(secs);
    }
    if let Some(secs) = args.login_block_secs {
        limit.block = Duration::from_secs(secs);
    }
    config.login_limit = (limit.max > 0).then_some(limit);
    telematics_sandbox::serve(config, args.listen).await
}
