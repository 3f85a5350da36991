//! Adapter discovery and choice: a real GPU when there is one, else the software adapter.
//!
//! Input: the optional name filter of [`crate::RendererConfig::adapter`]. Output: a wgpu
//! [`wgpu::Adapter`] plus its [`AdapterSummary`], or an error listing what was found.

use serde::{Deserialize, Serialize};

use crate::error::RenderError;

/// Plain description of an adapter, for logs, manifests and `--adapter` help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)` or `NVIDIA GeForce RTX 4090`.
    pub name: String,
    /// Backend, e.g. `Vulkan`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub device_type: String,
    /// Driver name, e.g. `llvmpipe`.
    pub driver: String,
    /// Driver details, e.g. `Mesa 22.3.6 (LLVM 15.0.6)`.
    pub driver_info: String,
    /// PCI vendor id (0x10005 for Mesa software drivers).
    pub vendor: u32,
    /// PCI device id.
    pub device: u32,
}

impl AdapterSummary {
    fn from_info(info: &wgpu::AdapterInfo) -> AdapterSummary {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            vendor: info.vendor,
            device: info.device,
        }
    }

    /// True for CPU (software) adapters such as lavapipe.
    pub fn is_software(&self) -> bool {
        self.device_type == "Cpu"
    }
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, {} {})",
            self.name, self.backend, self.device_type, self.driver, self.driver_info
        )
    }
}

/// `XDG_RUNTIME_DIR` value of [`window_system_probe_fix`]: absolute, so libwayland accepts it,
/// and never created, so no Wayland socket is found there and nothing is written to it.
pub const HEADLESS_XDG_RUNTIME_DIR: &str = "/nonexistent/ssl-utility-headless";

/// The environment variable a headless program should set, before anything else runs, so that
/// the Vulkan loader's window-system probing does not print
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.`; `None` when nothing
/// needs to change.
///
/// Where the line comes from: wgpu enables every window-system surface extension the driver
/// offers (`VK_KHR_wayland_surface` among them; wgpu 30 has no option to leave them out, and its
/// instance callback must not remove extensions). Mesa's implicit `VK_LAYER_MESA_device_select`
/// layer sees the Wayland extension and, on every `vkEnumeratePhysicalDevices`, asks the
/// Wayland compositor which GPU it uses: `wl_display_connect(NULL)`, which prints that line
/// when `XDG_RUNTIME_DIR` is unset. The render itself is unaffected.
///
/// The fix: when `XDG_RUNTIME_DIR` is unset or not an absolute path, and no Wayland connection
/// is configured (`WAYLAND_SOCKET` unset, `WAYLAND_DISPLAY` not an absolute path), it returns
/// `("XDG_RUNTIME_DIR", HEADLESS_XDG_RUNTIME_DIR)`. With that set, libwayland looks for a socket
/// there, finds none and fails silently; the layer goes on to its next probe and picks the same
/// device as before. An existing setting is never changed. Setting it is the caller's job
/// (`std::env::set_var` at the start of `main`, before any other thread exists), because
/// changing the environment of a running multi-threaded process is not safe.
pub fn window_system_probe_fix() -> Option<(&'static str, &'static str)> {
    let absolute = |name: &str| {
        std::env::var_os(name).is_some_and(|v| v.as_encoded_bytes().first() == Some(&b'/'))
    };
    if absolute("XDG_RUNTIME_DIR")
        || std::env::var_os("WAYLAND_SOCKET").is_some()
        || absolute("WAYLAND_DISPLAY")
    {
        return None;
    }
    Some(("XDG_RUNTIME_DIR", HEADLESS_XDG_RUNTIME_DIR))
}

pub(crate) fn new_instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::all();
    wgpu::Instance::new(desc)
}

fn enumerate(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

/// Every adapter wgpu can see, in enumeration order.
pub fn list_adapters() -> Vec<AdapterSummary> {
    let instance = new_instance();
    enumerate(&instance)
        .iter()
        .map(|a| AdapterSummary::from_info(&a.get_info()))
        .collect()
}

fn preference(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Picks the adapter: the first whose name contains `requested` (case-insensitive), or the most
/// capable kind (discrete > integrated > virtual > CPU), ties in enumeration order.
pub(crate) fn pick_adapter(
    instance: &wgpu::Instance,
    requested: Option<&str>,
) -> Result<(wgpu::Adapter, AdapterSummary), RenderError> {
    let adapters = enumerate(instance);
    let names = || {
        if adapters.is_empty() {
            "none".to_string()
        } else {
            adapters
                .iter()
                .map(|a| AdapterSummary::from_info(&a.get_info()).to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    if adapters.is_empty() {
        return Err(RenderError::NoAdapter { found: names() });
    }
    let chosen = match requested {
        Some(wanted) => {
            let wanted_lc = wanted.to_lowercase();
            adapters
                .iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&wanted_lc))
                .ok_or_else(|| RenderError::AdapterNotFound {
                    requested: wanted.to_string(),
                    available: names(),
                })?
        }
        None => adapters
            .iter()
            .enumerate()
            .min_by_key(|(i, a)| (preference(a.get_info().device_type), *i))
            .map(|(_, a)| a)
            .ok_or_else(|| RenderError::NoAdapter { found: names() })?,
    };
    let summary = AdapterSummary::from_info(&chosen.get_info());
    Ok((chosen.clone(), summary))
}
