//! Start-up shared by the `train` and `study` binaries (and the benches that render).

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

/// Keeps the Vulkan layers' window-system probing (wgpu backend, datasets rendered on the way)
/// from printing `error: XDG_RUNTIME_DIR is invalid or not set` on headless machines: sets the
/// variable [`renderer::adapter::window_system_probe_fix`] names, like `render` does.
///
/// # Safety
/// Sets an environment variable: call it as the first statement of `main`, before any other
/// thread exists that could read or write the environment at the same time.
#[allow(unsafe_code)]
pub unsafe fn quiet_window_system_probe() {
    if let Some((name, value)) = renderer::adapter::window_system_probe_fix() {
        // SAFETY: the caller guarantees that no other thread exists yet.
        unsafe { std::env::set_var(name, value) };
    }
}
