//! The fleetform binary: parses the command line, runs one command, and is the only place that
//! prints errors (once, with their whole context chain) and picks the exit code.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use fleetform::cli::{Cli, Command};
use fleetform::commands::{self, EXIT_ERROR, Io};
use fleetform::workflow;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors are errors (1); --help and --version are not.
            return ExitCode::from(if e.use_stderr() { EXIT_ERROR as u8 } else { 0 });
        }
    };
    let color = commands::use_color(cli.color, io::stdout().is_terminal());
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr();
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        color,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR as u8);
        }
    };
    match runtime.block_on(run(cli.command, &mut io)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let _ = io.out.flush();
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR as u8)
        }
    }
}

async fn run(command: Command, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match command {
        Command::Validate { file } => commands::validate(&file, io),
        Command::Plan(args) => {
            let metrics_out = args.saved.metrics_out.clone();
            let result = async {
                let loaded = commands::load_files(&args.server.file)?;
                let credentials = commands::credentials_from_env()?;
                let backend = commands::connect(&args.server, &loaded, &credentials).await?;
                commands::plan_command(&backend, &loaded, &args, io).await
            }
            .await;
            workflow::record_failure(result, metrics_out.as_deref(), "plan", "")
        }
        Command::Apply(args) => {
            commands::cancel_on_ctrl_c();
            let metrics_out = args.saved.metrics_out.clone();
            let result = async {
                let mut stdin = io::stdin().lock();
                let approval = commands::approval_for(
                    args.auto_approve,
                    &mut stdin,
                    commands::stdin_is_terminal(),
                );
                if let Some(saved) = &args.saved.plan {
                    return workflow::apply_saved_command(saved, &args, approval, io).await;
                }
                let loaded = commands::load_files(&args.server.file)?;
                let credentials = commands::credentials_from_env()?;
                let backend = commands::connect(&args.server, &loaded, &credentials).await?;
                commands::apply_command(&backend, &loaded, &args, approval, io).await
            }
            .await;
            workflow::record_failure(result, metrics_out.as_deref(), "apply", "")
        }
        Command::Drift(args) => {
            let result = async {
                let loaded = commands::load_files(&args.server.file)?;
                let credentials = commands::credentials_from_env()?;
                let backend = commands::connect(&args.server, &loaded, &credentials).await?;
                workflow::drift_command(&backend, &loaded, &args, io).await
            }
            .await;
            workflow::record_failure(result, args.metrics_out.as_deref(), "drift", "")
        }
        Command::Export(args) => {
            let credentials = commands::credentials_from_env()?;
            let backend =
                workflow::connect_url(&args.url, &credentials, args.backend_options()).await?;
            workflow::export_command(&backend, &args, io).await
        }
        Command::Schema => {
            io.out
                .write_all(fleetform::config::schema_json().as_bytes())?;
            Ok(commands::EXIT_OK)
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => {
            let config = traccar_sandbox::SandboxConfig {
                version: args.traccar_version.parse()?,
                latency: std::time::Duration::from_millis(args.latency_ms),
                max_requests_per_sec: args.max_requests_per_sec,
                registration: args.registration,
            };
            traccar_sandbox::serve(config, args.listen).await?;
            Ok(commands::EXIT_OK)
        }
        #[cfg(feature = "sandbox")]
        Command::Demo { file } => fleetform::demo::run(&file, io).await,
    }
}
