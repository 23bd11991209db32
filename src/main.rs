//! Entry point: parse arguments, run, exit with the command's code.

use kubetest::exit;
use tokio_util::sync::CancellationToken;

fn main() {
    let cli = kubetest::cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(exit::INFRA);
        }
    };
    let code = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(watch_signals(cancel.clone()));
        kubetest::app::run(cli, cancel).await
    });
    // Do not wait for blocking tasks (a hung engine call) once the command has decided.
    runtime.shutdown_background();
    std::process::exit(code);
}

/// First Ctrl-C/SIGTERM: cancel the work so phases record what they made and stop.
/// Second: exit at once.
async fn watch_signals(cancel: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let next = async |term: &mut Option<tokio::signal::unix::Signal>| match term {
        Some(t) => tokio::select! { _ = tokio::signal::ctrl_c() => (), _ = t.recv() => () },
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    next(&mut term).await;
    eprintln!(
        "\ninterrupted: stopping and recording what was made (press Ctrl-C again to exit at once)"
    );
    cancel.cancel();
    next(&mut term).await;
    std::process::exit(exit::INTERRUPTED);
}
