//! The command line: clap derive types, flags and help text. No logic lives here; `cmd/` runs
//! what these types describe, one file per command.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Declarative, GitOps-style reconciliation of Traccar fleets: users, their permissions and
/// their device and group links, from a version-controlled YAML file (and of the users of a
/// telematics SDK user service: their profile and telematics flags).
///
/// Credentials come only from the environment: TRACCAR_TOKEN (an API token), or
/// TRACCAR_EMAIL with TRACCAR_PASSWORD, or TRACCAR_AUTH_TOKEN (base64 of email:password).
/// When several are set, the first in that order is used (`-v` says which). Telematics:
/// TELEMATICS_EMAIL, TELEMATICS_PASSWORD and TELEMATICS_INSTANCE_KEY.
#[derive(Debug, Parser)]
#[command(name = "fleetform", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// When to colour the output. `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

/// How every command that connects logs in: shown in its `--help`. (Macros, so `concat!` can
/// join them into one help text.)
macro_rules! login {
    () => {
        "Logging in: credentials come only from the environment, never from a flag or the \
fleet file. The first of these that is set is used; -v says which, and which others it ignores:
  1. TRACCAR_TOKEN                       an API token (Traccar: Account > Token)
  2. TRACCAR_EMAIL and TRACCAR_PASSWORD  an account's email and password
  3. TRACCAR_AUTH_TOKEN                  base64 of `email:password` (line breaks allowed)
Telematics servers (server.kind: telematics): TELEMATICS_EMAIL and TELEMATICS_PASSWORD (an
admin API credential from DataHub), and TELEMATICS_INSTANCE_KEY to register users; fleetform
logs in at most twice per run, and --token-cache keeps the session for later runs.
The server is --url, else TRACCAR_URL, else server.url in the fleet file (or the saved plan)."
    };
}

/// What `-f` reads when it is not given: shown in the help of the commands that read a file.
macro_rules! default_file {
    () => {
        "Without -f: fleet.yaml in the current directory, or the directory fleet.d/ (all its \
*.yaml/*.yml files) when there is no fleet.yaml; both at once is an error (pass -f to choose)."
    };
}

pub const LOGIN: &str = login!();
pub const DEFAULT_FILE: &str = default_file!();
const FILE_AND_LOGIN: &str = concat!(default_file!(), "\n\n", login!());

pub const EXIT_CODES: &str = "Exit codes: 0 success (and no changes), 1 error, \
2 the plan has changes (plan --detailed-exitcode only), 141 standard output closed by its \
reader (e.g. `| head`). drift: 0 in sync, 2 pending changes only, 3 drift (with or without \
pending), 1 error.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a fleet file without contacting any server.
    #[command(after_help = DEFAULT_FILE)]
    Validate(FileArgs),
    /// Show what apply would change on the server (a dry run; writes nothing).
    #[command(after_help = FILE_AND_LOGIN)]
    Plan(PlanArgs),
    /// Change the server to match the fleet file, or apply a saved plan
    /// (`fleetform apply PLAN.json`).
    #[command(after_help = FILE_AND_LOGIN)]
    Apply(ApplyArgs),
    /// Render a saved plan (from `plan --out`) without contacting any server: its changes,
    /// how old it is and what it was made against.
    Show(ShowArgs),
    /// Report, without writing, what the file asks for that was never applied (pending) and
    /// what was changed on the server behind the file's back (drift).
    #[command(after_help = FILE_AND_LOGIN)]
    Drift(DriftArgs),
    /// Write a fleet file from the live server, to adopt it.
    #[command(after_help = LOGIN)]
    Export(ExportArgs),
    /// Print the JSON Schema of the fleet file.
    Schema,
    /// Print a shell completion script (see the README for where to put it).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print fleetform's man page (roff), made from the same definitions as --help.
    Man,
    /// Serve an in-memory Traccar-compatible server (or, with --kind telematics, a telematics
    /// user service) for tests and rehearsals.
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    /// Walk through plan, apply and re-plan of a fleet file against a seeded sandbox; works
    /// from any directory.
    #[cfg(feature = "sandbox")]
    Demo {
        /// The fleet file to demonstrate with (default: the fleet.yaml.example built into
        /// fleetform).
        #[arg(short = 'f', long = "file")]
        file: Option<PathBuf>,
    },
}

/// `validate`'s `-f`.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// The fleet file, or a directory of *.yaml/*.yml files. Repeat to merge several.
    /// Default: fleet.yaml, else fleet.d/.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
}

/// How to reach the server.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The fleet file, or a directory of *.yaml/*.yml files. Repeat to merge several files;
    /// `${VAR}` in string values is read from the environment. Default: fleet.yaml, else
    /// fleet.d/.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,

    #[command(flatten)]
    pub connect: ConnectArgs,

    /// Limit the plan (and apply) to this user, by its key: the email on Traccar
    /// (case-insensitive), the clientId on telematics (exact). Repeatable. The user must be in
    /// the fleet file or managed by the fleet on the server.
    #[arg(long = "target", value_name = "USER")]
    pub target: Vec<String>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How much a command says on stderr besides its output.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Log which credential is used and every request to stderr as `METHOD path -> status
    /// (ms)` (never a credential), instead of a progress bar.
    #[arg(short = 'v', long, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Say nothing but errors and the summary: no progress bar, no per-user plan lines.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// How to reach a server and how hard to push it: shared by every command that connects, so
/// each flag means the same everywhere and one path (`cmd::connect`) turns them into a backend.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The server's URL; overrides `server.url` in the file.
    #[arg(long, env = "TRACCAR_URL", hide_env_values = true, value_name = "URL")]
    pub url: Option<String>,

    /// Telematics servers: keep the session's tokens in this file (created with mode 0600)
    /// so later runs refresh the session instead of logging in again (the service blocks an
    /// address after a few logins).
    #[arg(
        long,
        env = "TELEMATICS_TOKEN_CACHE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub token_cache: Option<PathBuf>,

    /// Allow plain http to a host that is not loopback (credentials travel unencrypted).
    #[arg(long)]
    pub insecure_http: bool,

    /// A PEM file of certificate authorities to trust besides Mozilla's roots (e.g. a company
    /// CA). Repeatable. Certificates are always verified.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Vec<PathBuf>,

    /// Requests in flight at once, for reads and for the independent writes of one plan phase.
    /// Default: 64 on Traccar before 6.12, whose default throttle delays a client's requests
    /// beyond 25/s by about 100 ms each, side by side (so more in flight is faster while the
    /// server's latency stays flat), and 32 on later servers, which have no throttle and
    /// saturate there (measured; see BENCHMARKS.md).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,

    /// Do not use bulk requests (the 6.14+ permissions listing, /api/permissions/bulk): one
    /// request per object or link, as a hand-written script does. For comparison only.
    #[arg(long)]
    pub no_bulk: bool,

    /// Timeout of every request, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// GitHub-flavoured markdown for pull-request comments, risky changes first.
    Markdown,
}

impl From<Format> for crate::views::render::Format {
    fn from(format: Format) -> Self {
        match format {
            Format::Text => Self::Text,
            Format::Json => Self::Json,
            Format::Markdown => Self::Markdown,
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit with 2 when the plan has changes (0 when it has none, 1 on error).
    #[arg(long)]
    pub detailed_exitcode: bool,

    #[command(flatten)]
    pub saved: PlanOutArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A saved plan (from `plan --out`) to apply instead of planning again, as
    /// `terraform apply PLAN` does; the same as --plan.
    #[arg(value_name = "PLAN.json", conflicts_with_all = ["file", "plan", "target"])]
    pub plan_file: Option<PathBuf>,

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub saved: ApplyPlanArgs,

    /// Links per /api/permissions/bulk request. Traccar has no bulk user create: users are
    /// created one request each, --concurrency at a time.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// Apply without asking; required when not on a terminal.
    #[arg(long)]
    pub auto_approve: bool,

    /// Write the generated passwords of created users to this file (mode 0600; CSV, or JSON
    /// when the name ends in .json). Passwords are never printed.
    #[arg(long, value_name = "PATH")]
    pub credentials_out: Option<PathBuf>,

    /// Overwrite an existing --credentials-out file.
    #[arg(long)]
    pub force: bool,

    /// Apply even when the plan deletes or disables, or unlinks, more than the fleet file's
    /// `safety:` limits allow (by default: more than 25% of the managed users once there are 8,
    /// every managed user, or more than 25% of their links once there are 20).
    #[arg(long)]
    pub allow_mass_removal: bool,
}

/// `sandbox --kind`: which server to imitate.
#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxKind {
    /// Traccar (crates/traccar-sandbox).
    Traccar,
    /// The telematics SDK user service (crates/telematics-sandbox).
    Telematics,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// The server to imitate.
    #[arg(long, value_enum, default_value_t = SandboxKind::Traccar)]
    pub kind: SandboxKind,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub listen: std::net::SocketAddr,

    /// traccar: the Traccar generation to imitate: 6.14, 6.9 or 5.12.
    #[arg(long, default_value = "6.14")]
    pub traccar_version: String,

    /// Delay every request by this many milliseconds (imitates a server across a network).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,

    /// traccar: Traccar's per-client throttle (web.maxRequestsPerSec): excess requests are
    /// delayed.
    #[arg(long)]
    pub max_requests_per_sec: Option<u32>,

    /// traccar: allow self-registration after the first user.
    #[arg(long)]
    pub registration: bool,

    /// telematics: lifetime of the access JWTs that login and refresh issue, in seconds
    /// (default 86400); a short one shows expiry and refresh.
    #[arg(long, value_name = "SECS")]
    pub token_lifetime_secs: Option<u64>,

    /// telematics: logins allowed per address within --login-window-secs before a 429 blocks
    /// the address for --login-block-secs (default 5 per 60 s, blocked 3600 s); 0: no limit.
    #[arg(long, value_name = "N")]
    pub login_limit: Option<u32>,

    /// telematics: the login limit's window, in seconds.
    #[arg(long, value_name = "SECS")]
    pub login_window_secs: Option<u64>,

    /// telematics: how long an address over the login limit stays blocked, in seconds.
    #[arg(long, value_name = "SECS")]
    pub login_block_secs: Option<u64>,

    /// telematics: cap GetFilteredPage's PageSize silently (default: no cap).
    #[arg(long, value_name = "N")]
    pub max_page_size: Option<u32>,

    /// telematics: also serve the unverified bulk POST /v1/Registration/CreateMany.
    #[arg(long)]
    pub create_many: bool,
}

/// `--metrics-out`, shared by plan, apply and drift.
#[derive(Debug, Clone, Default, Args)]
pub struct MetricsArgs {
    /// Write Prometheus text-format metrics to this file (for node_exporter's textfile
    /// collector), atomically.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
}

impl MetricsArgs {
    /// The metrics file, when asked for.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.metrics_out.as_deref()
    }
}

/// `plan --out` and `--metrics-out`.
#[derive(Debug, Clone, Default, Args)]
pub struct PlanOutArgs {
    /// Also save the plan to this file (JSON) for `fleetform apply --plan FILE`: the plan, the
    /// server, the account, the fleet file's digest and fingerprints of what the plan read.
    #[arg(long, value_name = "PLAN.json")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `apply --plan` and `--metrics-out`.
#[derive(Debug, Clone, Default, Args)]
pub struct ApplyPlanArgs {
    /// Apply this saved plan (from `plan --out`) instead of planning again; -f is not used.
    /// Refused, with nothing applied, when the server, the account or any object the plan
    /// read changed since. `fleetform apply PLAN.json` is the same.
    #[arg(long = "plan", value_name = "PLAN.json", conflicts_with_all = ["file", "target"])]
    pub plan: Option<PathBuf>,

    #[command(flatten)]
    pub metrics: MetricsArgs,
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

    #[command(flatten)]
    pub metrics: MetricsArgs,
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

    /// The kind of server (`server.kind` of the file written).
    #[arg(long, value_name = "KIND", default_value = "traccar", value_parser = clap::builder::PossibleValuesParser::new(crate::backend::KINDS))]
    pub kind: String,

    /// Telematics: the instance (user group) to export, a UUID (`server.instanceId`).
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,

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

    #[command(flatten)]
    pub connect: ConnectArgs,

    #[command(flatten)]
    pub verbosity: OutputArgs,
}

/// `fleetform show PLAN.json`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan (from `plan --out`).
    #[arg(value_name = "PLAN.json")]
    pub plan: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

impl ApplyArgs {
    /// The saved plan to apply: the positional `PLAN.json` or `--plan`.
    pub fn saved_plan(&self) -> Option<&std::path::Path> {
        self.plan_file.as_deref().or(self.saved.plan.as_deref())
    }
}

#[cfg(all(test, feature = "sandbox"))]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The help texts are part of the interface: a change shows up in review.
    #[test]
    fn help_snapshots() {
        let mut cli = Cli::command();
        insta::assert_snapshot!("help", cli.render_help().to_string());
        for sub in [
            "validate",
            "plan",
            "apply",
            "show",
            "drift",
            "export",
            "completions",
            "man",
            "sandbox",
            "demo",
        ] {
            let mut cmd = Cli::command();
            let help = cmd
                .find_subcommand_mut(sub)
                .expect("subcommand exists")
                .render_help()
                .to_string();
            insta::assert_snapshot!(format!("help_{sub}"), help);
        }
    }
}
