//! The fleetform binary: parses the command line, runs one command, and is the only place that
//! prints errors (once, with their whole context chain), handles Ctrl-C and picks the exit code.

#![allow(
    clippy::print_stderr,
    clippy::exit,
    reason = "the binary alone reports errors on stderr and exits (at a second Ctrl-C)"
)]

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::Parser;
use fleetform::backend::RequestLog;
use fleetform::cli::{Cli, Command};
use fleetform::cmd::{self, Io};
use fleetform::exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors are errors (1); --help and --version are not.
            return ExitCode::from(if e.use_stderr() { exit::ERROR as u8 } else { 0 });
        }
    };
    let color = cmd::use_color(cli.color, io::stdout().is_terminal());
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr();
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        color,
        request_log: RequestLog::new(|line| eprintln!("{line}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(exit::ERROR as u8);
        }
    };
    match runtime.block_on(run(cli.command, &mut io)) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            let _ = io.out.flush();
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR as u8)
        }
    }
}

/// Makes Ctrl-C stop an apply cleanly: the first Ctrl-C lets the requests in flight finish and
/// the report print (exit 1); a second one exits at once (130, as a shell would).
fn cancel_on_ctrl_c() {
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        cmd::apply::INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!(
            "Interrupted: finishing the requests in flight (Ctrl-C again to stop at once)..."
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(exit::INTERRUPTED);
        }
    });
}

async fn run(command: Command, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match command {
        Command::Validate { file } => cmd::validate::run(&file, io),
        Command::Plan(args) => cmd::plan::run(&args, io).await,
        Command::Apply(args) => {
            cancel_on_ctrl_c();
            let mut stdin = io::stdin().lock();
            let approval =
                cmd::approval_for(args.auto_approve, &mut stdin, cmd::stdin_is_terminal());
            cmd::apply::run(&args, approval, io).await
        }
        Command::Drift(args) => cmd::drift::run(&args, io).await,
        Command::Export(args) => cmd::export::run(&args, io).await,
        Command::Schema => {
            io.out
                .write_all(fleetform::config::schema_json().as_bytes())?;
            Ok(exit::OK)
        }
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => cmd::sandbox::run(&args).await,
        #[cfg(feature = "sandbox")]
        Command::Demo { file } => cmd::demo::run(&file, io).await,
    }
}
