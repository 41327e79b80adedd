//! `fleetform completions SHELL` and `fleetform man`: the shell completion script and the man
//! page, both generated from the clap definitions in `cli.rs` (clap_complete, clap_mangen), so
//! they never disagree with `--help`.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit;

/// Writes the completion script for `shell`.
pub fn run(shell: clap_complete::Shell, out: &mut dyn Write) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "fleetform", out);
    Ok(exit::OK)
}

/// Writes the man page (roff): fleetform(1), with every subcommand's options.
pub fn man(out: &mut dyn Write) -> anyhow::Result<i32> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    // One page for all: the commands are listed here and described in the sections below
    // (clap_mangen's own list would point to a page per command, which is not installed).
    writeln!(out, ".SH COMMANDS")?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        writeln!(
            out,
            ".TP\n\\fB{}\\fR\n{}",
            sub.get_name(),
            roff_text(&about)
        )?;
    }
    // Each subcommand's own options, as `fleetform SUB --help` shows them.
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name();
        writeln!(out, ".SH \"FLEETFORM {}\"", name.to_uppercase())?;
        let sub = sub
            .clone()
            .bin_name(format!("fleetform {name}"))
            .display_name(format!("fleetform-{name}"));
        let page = clap_mangen::Man::new(sub);
        page.render_synopsis_section(out)?;
        page.render_description_section(out)?;
        page.render_options_section(out)?;
        page.render_extra_section(out)?;
    }
    man.render_extra_section(out)?;
    man.render_version_section(out)?;
    Ok(exit::OK)
}

/// Plain text as a roff paragraph line: no request may start it, and `\` is literal.
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shell's script is generated and names every subcommand.
    #[test]
    fn completions_are_generated_for_every_shell() {
        use clap::ValueEnum;
        for shell in clap_complete::Shell::value_variants() {
            let mut out = Vec::new();
            assert_eq!(run(*shell, &mut out).expect("generate"), exit::OK);
            let script = String::from_utf8(out).expect("utf-8");
            for sub in ["plan", "apply", "show", "drift", "export", "completions"] {
                assert!(script.contains(sub), "{shell}: no {sub} in\n{script}");
            }
            assert!(script.contains("--credentials-out"), "{shell}");
        }
    }

    #[test]
    fn the_man_page_has_every_command_and_the_login_help() {
        let mut out = Vec::new();
        man(&mut out).expect("render");
        let page = String::from_utf8(out).expect("utf-8");
        assert!(page.starts_with(".ie"), "{}", &page[..200.min(page.len())]);
        assert!(page.contains(".TH fleetform 1"), "{page}");
        for section in [
            "FLEETFORM PLAN",
            "FLEETFORM APPLY",
            "FLEETFORM SHOW",
            "FLEETFORM EXPORT",
        ] {
            assert!(page.contains(section), "{section}");
        }
        assert!(page.contains("TRACCAR_AUTH_TOKEN"));
        assert!(page.contains("credentials\\-out"), "options of apply");
    }
}
