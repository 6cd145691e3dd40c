//! `evalgate completions`, `evalgate man` and `evalgate schema`: text generated from the
//! command line's and the suite file's own definitions, for shells, `man` and editors.

use std::io::Write;

use clap::CommandFactory;

use super::{Cli, CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints the completion script of `shell` on stdout.
pub fn completions(args: CompletionsArgs, stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut cmd = Cli::command();
    let name = cmd.get_name().to_owned();
    // Into a buffer first: clap_complete panics when its writer fails.
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut text);
    write_out(stdout, &text)
}

/// Prints the man page of `evalgate` (roff) on stdout: one page, whose COMMANDS section lists
/// every subcommand. clap_mangen's own section would point at `evalgate-run(1)` and the like,
/// pages that are not installed; this one says to ask each command for `--help` instead.
pub fn man(stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    use clap_mangen::roff::{Roff, bold, roman};
    let cmd = Cli::command().disable_help_subcommand(true);
    let page = clap_mangen::Man::new(cmd.clone());
    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands.control("TP", []);
        commands.text([bold(format!("evalgate {}", sub.get_name()))]);
        if let Some(about) = sub.get_about() {
            commands.text([roman(about.to_string())]);
        }
    }
    commands.control("PP", []);
    commands.text([
        roman("Each command's options: "),
        bold("evalgate COMMAND --help"),
        roman(". The suite file is described in docs/configuration.md."),
    ]);
    let mut text = Vec::new();
    page.render_title(&mut text)
        .and_then(|()| page.render_name_section(&mut text))
        .and_then(|()| page.render_synopsis_section(&mut text))
        .and_then(|()| page.render_description_section(&mut text))
        .and_then(|()| page.render_options_section(&mut text))
        .and_then(|()| commands.to_writer(&mut text))
        .map_err(|e| CliError::infra(format!("cannot render the man page: {e}"), None))?;
    write_out(stdout, &text)
}

/// Prints the suite file's JSON Schema on stdout.
pub fn schema(stdout: &mut dyn Write) -> Result<Outcome, CliError> {
    write_out(
        stdout,
        crate::config::schema::suite_schema_text().as_bytes(),
    )
}

/// Writes the generated text. A closed pipe (`| head`) is the reader's choice, not a failure;
/// any other write error is, lest `evalgate schema > file` on a full disk leave half a file
/// and exit 0.
fn write_out(stdout: &mut dyn Write, bytes: &[u8]) -> Result<Outcome, CliError> {
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Done),
        Err(e) => Err(CliError::infra(
            format!("cannot write to stdout: {e}"),
            None,
        )),
    }
}
