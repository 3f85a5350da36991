//! Start-up shared by the `train` and `study` binaries.

/// Logs to stderr through `tracing` (`RUST_LOG`, default `info`), coloured only on a terminal
/// and never with `NO_COLOR` set: files and pipes (a study node's `log.txt`, CI's log) get plain
/// text.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
}
