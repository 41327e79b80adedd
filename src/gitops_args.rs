//! The command line of the GitOps commands and flags (saved plans, drift, export, metrics):
//! clap derive types and help text only, kept beside `cli.rs` so that file changes little.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::ServerArgs;

/// `plan --out` and `--metrics-out`.
#[derive(Debug, Clone, Default, Args)]
pub struct PlanOutArgs {
    /// Also save the plan to this file (JSON) for `fleetform apply --plan FILE`: the plan, the
    /// server, the account, the fleet file's digest and fingerprints of what the plan read.
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,

    /// Write Prometheus text-format metrics to this file (for node_exporter's textfile
    /// collector), atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
}

/// `apply --plan` and `--metrics-out`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApplyPlanArgs {
    /// Apply this saved plan (from `plan --out`) instead of planning again; -f is not used.
    /// Refused, with nothing applied, when the server, the account or any object the plan
    /// read changed since.
    #[arg(long = "plan", value_name = "PLAN.json", conflicts_with = "file")]
    pub plan: Option<PathBuf>,

    /// Write Prometheus text-format metrics to this file (for node_exporter's textfile
    /// collector), atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftFormat {
    Text,
    Json,
}

/// `fleetform drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
    pub format: DriftFormat,

    /// Write Prometheus text-format metrics to this file (for node_exporter's textfile
    /// collector), atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportScope {
    /// Users carrying this fleet's marker.
    Managed,
    /// Every user fleetform may manage that no other fleet claims.
    All,
}

/// `fleetform export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The fleet name: written to the file, and the marker `--scope managed` selects by.
    #[arg(long, value_name = "NAME")]
    pub fleet: String,

    /// Which users to export.
    #[arg(long, value_enum, default_value_t = ExportScope::Managed)]
    pub scope: ExportScope,

    /// Fold identical permission sets shared by two or more users into roles.
    #[arg(long)]
    pub infer_roles: bool,

    /// Write the fleet file here instead of standard output (refuses to overwrite without
    /// --force).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite an existing --output file.
    #[arg(long)]
    pub force: bool,

    /// The Traccar server's URL.
    #[arg(long, env = "TRACCAR_URL", hide_env_values = true, value_name = "URL")]
    pub url: String,

    /// Allow plain http to a host that is not loopback (credentials travel unencrypted).
    #[arg(long)]
    pub insecure_http: bool,

    /// A PEM file of certificate authorities to trust besides Mozilla's roots (e.g. a company
    /// CA). Repeatable. Certificates are always verified.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Vec<std::path::PathBuf>,

    /// Timeout of every request, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

impl ExportArgs {
    /// The backend options these flags ask for.
    pub fn backend_options(&self) -> crate::backend::traccar::Options {
        crate::backend::traccar::Options {
            timeout: std::time::Duration::from_secs(self.timeout.max(1)),
            insecure_http: self.insecure_http,
            ca_certs: self.ca_cert.clone(),
            ..crate::backend::traccar::Options::default()
        }
    }
}
