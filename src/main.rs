//! The `evalgate` binary: everything lives in the library; this only wires the arguments and the
//! standard streams.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(evalgate::cli::main(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    ))
}
