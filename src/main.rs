//! The `evalgate` binary: everything lives in the library; this only wires the standard streams.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(evalgate::cli::main(
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
