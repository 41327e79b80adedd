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
use fleetform::backend::{Progress, RequestLog};
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
    // Progress bars only on a terminal: a CI log or a pipe never sees one.
    let progress = if io::stderr().is_terminal() {
        cmd::progress::Bar::on_stderr()
    } else {
        Progress::none()
    };
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        color,
        request_log: RequestLog::new(|line| eprintln!("{line}")),
        progress,
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
        // `fleetform plan | head`: the reader went away; there is nobody left to tell.
        Err(e) if closed_pipe(&e) => ExitCode::from(exit::CLOSED_PIPE as u8),
        Err(e) => {
            let _ = io.out.flush();
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR as u8)
        }
    }
}

/// Whether `error` is a write to a pipe whose reader has closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
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
        Command::Validate(args) => cmd::validate::run(&args.file, io),
        Command::Show(args) => cmd::show::run(&args, io),
        Command::Completions { shell } => cmd::completions::run(shell, io.out),
        Command::Man => cmd::completions::man(io.out),
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
        Command::Demo { file } => cmd::demo::run(file.as_deref(), io).await,
    }
}
