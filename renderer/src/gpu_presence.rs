//! Detects the silent CPU fallback: Vulkan offers only a software adapter (lavapipe) on a machine
//! that has an NVIDIA GPU.
//!
//! Input: the adapters wgpu found and facts about the host (NVIDIA device nodes, `nvidia-smi`,
//! Vulkan ICD files, container variables). Output: `None` when there is nothing to warn about,
//! else a warning saying why Vulkan does not see the GPU (no NVIDIA ICD file, a container started
//! without the `graphics` driver capability, an ICD whose library is missing) and how to fix it.

use std::path::{Path, PathBuf};

use crate::adapter::AdapterSummary;

/// Directories the Vulkan loader reads ICD manifests from on Linux (besides `XDG_*` dirs).
const ICD_DIRS: [&str; 4] = [
    "/etc/vulkan/icd.d",
    "/usr/share/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
    "/usr/local/etc/vulkan/icd.d",
];

/// Library directories searched for an ICD's `library_path` when it is a bare file name.
const LIB_DIRS: [&str; 6] = [
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
];

/// An NVIDIA Vulkan ICD manifest found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvidiaIcd {
    /// The manifest (e.g. `/usr/share/vulkan/icd.d/nvidia_icd.json`).
    pub manifest: PathBuf,
    /// Its `library_path` (e.g. `libGLX_nvidia.so.0`), if it could be read.
    pub library: Option<String>,
    /// Whether that library exists (absolute path, or found in the usual library directories).
    pub library_found: bool,
}

/// What the host says about NVIDIA hardware and its Vulkan driver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostGpuFacts {
    /// `/dev/nvidia0` or `/proc/driver/nvidia/version` exists.
    pub nvidia_device_node: bool,
    /// GPU name(s) from `nvidia-smi`, when it ran.
    pub nvidia_smi: Option<String>,
    /// NVIDIA ICD manifests in the Vulkan loader's directories.
    pub nvidia_icds: Vec<NvidiaIcd>,
    /// Looks like a container (`/.dockerenv`, `/run/.containerenv` or `NVIDIA_VISIBLE_DEVICES`).
    pub in_container: bool,
    /// `NVIDIA_DRIVER_CAPABILITIES`, if set.
    pub driver_capabilities: Option<String>,
    /// `VK_DRIVER_FILES` / `VK_ICD_FILENAMES`, if set (they restrict the loader to those files).
    pub icd_override: Option<String>,
}

impl HostGpuFacts {
    /// Reads the facts from this machine (runs `nvidia-smi -L` when it is on the `PATH`).
    pub fn probe() -> HostGpuFacts {
        let nvidia_device_node =
            Path::new("/dev/nvidia0").exists() || Path::new("/proc/driver/nvidia/version").exists();
        let nvidia_smi = std::process::Command::new("nvidia-smi")
            .arg("-L")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty());
        let mut dirs: Vec<PathBuf> = ICD_DIRS.iter().map(PathBuf::from).collect();
        for var in ["XDG_CONFIG_DIRS", "XDG_DATA_DIRS"] {
            if let Ok(list) = std::env::var(var) {
                dirs.extend(
                    list.split(':')
                        .filter(|d| !d.is_empty())
                        .map(|d| Path::new(d).join("vulkan/icd.d")),
                );
            }
        }
        dirs.dedup();
        let mut nvidia_icds = Vec::new();
        for dir in &dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_lowercase();
                if name.contains("nvidia") && name.ends_with(".json") {
                    nvidia_icds.push(read_icd(&entry.path()));
                }
            }
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        HostGpuFacts {
            nvidia_device_node,
            nvidia_smi,
            nvidia_icds,
            in_container: Path::new("/.dockerenv").exists()
                || Path::new("/run/.containerenv").exists()
                || env("NVIDIA_VISIBLE_DEVICES").is_some(),
            driver_capabilities: env("NVIDIA_DRIVER_CAPABILITIES"),
            icd_override: env("VK_DRIVER_FILES").or_else(|| env("VK_ICD_FILENAMES")),
        }
    }

    /// The host has an NVIDIA GPU (device node or a working `nvidia-smi`).
    pub fn has_nvidia_gpu(&self) -> bool {
        self.nvidia_device_node || self.nvidia_smi.is_some()
    }

    /// `NVIDIA_DRIVER_CAPABILITIES` grants the Vulkan/OpenGL driver (`graphics` or `all`).
    /// Unset counts as not granted inside a container (the runtime's default is
    /// `compute,utility`).
    pub fn graphics_capability(&self) -> bool {
        match &self.driver_capabilities {
            Some(caps) => caps
                .split(',')
                .map(str::trim)
                .any(|c| c == "graphics" || c == "all"),
            None => !self.in_container,
        }
    }
}

fn read_icd(manifest: &Path) -> NvidiaIcd {
    let library = std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| json_string_field(&text, "library_path"));
    let library_found = library.as_deref().is_some_and(library_exists);
    NvidiaIcd {
        manifest: manifest.to_path_buf(),
        library,
        library_found,
    }
}

/// The string value of `"key": "value"` in a small JSON document (no escapes in the value).
fn json_string_field(text: &str, key: &str) -> Option<String> {
    let after_key = &text[text.find(&format!("\"{key}\""))? + key.len() + 2..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value = after_colon.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

fn library_exists(library: &str) -> bool {
    let path = Path::new(library);
    if path.is_absolute() || library.contains('/') {
        return path.exists();
    }
    let extra = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    LIB_DIRS
        .iter()
        .copied()
        .chain(extra.split(':').filter(|d| !d.is_empty()))
        .any(|dir| Path::new(dir).join(library).exists())
}

/// [`software_fallback_warning`] for this machine: enumerates the adapters and, only when they
/// are all software ones, probes the host.
pub fn check_software_fallback() -> Option<String> {
    let adapters = crate::adapter::list_adapters();
    if adapters.is_empty() || adapters.iter().any(|a| !a.is_software()) {
        return None;
    }
    software_fallback_warning(&adapters, &HostGpuFacts::probe())
}

/// The warning for `adapters` (what wgpu enumerated) on a host described by `facts`: `Some` when
/// every adapter is a software one (lavapipe) although the host has an NVIDIA GPU.
pub fn software_fallback_warning(
    adapters: &[AdapterSummary],
    facts: &HostGpuFacts,
) -> Option<String> {
    if adapters.is_empty() || adapters.iter().any(|a| !a.is_software()) || !facts.has_nvidia_gpu() {
        return None;
    }
    let gpu = facts
        .nvidia_smi
        .as_deref()
        .and_then(|s| s.lines().next())
        .unwrap_or("/dev/nvidia0");
    let software = adapters
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let why = if facts.in_container && !facts.graphics_capability() {
        format!(
            "this is a container started with NVIDIA_DRIVER_CAPABILITIES={}, which lacks \
             `graphics`, so the NVIDIA container runtime did not mount the Vulkan driver (ICD \
             file and libGLX_nvidia). Fix: restart the container with \
             NVIDIA_DRIVER_CAPABILITIES=all (or compute,utility,graphics), e.g. `docker run \
             --gpus all -e NVIDIA_DRIVER_CAPABILITIES=all ...`",
            facts
                .driver_capabilities
                .as_deref()
                .unwrap_or("<unset: the default compute,utility>")
        )
    } else if let Some(list) = facts
        .icd_override
        .as_deref()
        .filter(|l| !l.to_lowercase().contains("nvidia"))
    {
        format!(
            "VK_DRIVER_FILES/VK_ICD_FILENAMES={list} restricts the Vulkan loader to drivers \
             without NVIDIA's. Fix: unset it or add the NVIDIA ICD file"
        )
    } else if facts.nvidia_icds.is_empty() {
        format!(
            "there is no NVIDIA Vulkan ICD file (nvidia_icd.json) in {}. Fix: install the \
             Vulkan part of the NVIDIA driver (Debian/Ubuntu: libnvidia-gl-<driver version>)",
            ICD_DIRS.join(", ")
        )
    } else if let Some(icd) = facts.nvidia_icds.iter().find(|i| !i.library_found) {
        format!(
            "the NVIDIA ICD {} names the library {}, which is not installed. Fix: install the \
             NVIDIA driver's GL/Vulkan libraries matching the kernel driver",
            icd.manifest.display(),
            icd.library
                .as_deref()
                .unwrap_or("<unreadable library_path>")
        )
    } else {
        "the NVIDIA Vulkan driver is installed but created no adapter (often a user-space \
         library that does not match the kernel driver version). Check `vulkaninfo --summary`"
            .to_string()
    };
    Some(format!(
        "this machine has an NVIDIA GPU ({gpu}) but Vulkan offers only the software rasterizer \
         ({software}): rendering runs on the CPU, one to two orders of magnitude slower. Why: \
         {why}. Pass --adapter llvmpipe to choose the CPU on purpose and silence this warning"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str, device_type: &str) -> AdapterSummary {
        AdapterSummary {
            name: name.into(),
            backend: "Vulkan".into(),
            device_type: device_type.into(),
            driver: String::new(),
            driver_info: String::new(),
            vendor: 0,
            device: 0,
        }
    }

    fn nvidia_host() -> HostGpuFacts {
        HostGpuFacts {
            nvidia_device_node: true,
            nvidia_smi: Some("GPU 0: NVIDIA H200 (UUID: GPU-x)".into()),
            ..Default::default()
        }
    }

    #[test]
    fn no_warning_without_nvidia_or_with_a_gpu_adapter() {
        let lavapipe = [adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "Cpu")];
        assert_eq!(
            software_fallback_warning(&lavapipe, &HostGpuFacts::default()),
            None
        );
        let both = [
            adapter("llvmpipe", "Cpu"),
            adapter("NVIDIA H200", "DiscreteGpu"),
        ];
        assert_eq!(software_fallback_warning(&both, &nvidia_host()), None);
        assert_eq!(software_fallback_warning(&[], &nvidia_host()), None);
    }

    #[test]
    fn container_without_graphics_capability_is_named() {
        let facts = HostGpuFacts {
            in_container: true,
            driver_capabilities: Some("compute,utility".into()),
            ..nvidia_host()
        };
        let w = software_fallback_warning(&[adapter("llvmpipe", "Cpu")], &facts).unwrap();
        assert!(w.contains("NVIDIA H200"), "{w}");
        assert!(
            w.contains("NVIDIA_DRIVER_CAPABILITIES=compute,utility"),
            "{w}"
        );
        assert!(w.contains("graphics"), "{w}");
        let unset = HostGpuFacts {
            in_container: true,
            ..nvidia_host()
        };
        let w = software_fallback_warning(&[adapter("llvmpipe", "Cpu")], &unset).unwrap();
        assert!(w.contains("<unset"), "{w}");
    }

    #[test]
    fn missing_icd_and_missing_library_are_named() {
        let w = software_fallback_warning(&[adapter("llvmpipe", "Cpu")], &nvidia_host()).unwrap();
        assert!(w.contains("no NVIDIA Vulkan ICD"), "{w}");
        let facts = HostGpuFacts {
            nvidia_icds: vec![NvidiaIcd {
                manifest: "/usr/share/vulkan/icd.d/nvidia_icd.json".into(),
                library: Some("libGLX_nvidia.so.0".into()),
                library_found: false,
            }],
            in_container: true,
            driver_capabilities: Some("all".into()),
            ..nvidia_host()
        };
        let w = software_fallback_warning(&[adapter("llvmpipe", "Cpu")], &facts).unwrap();
        assert!(w.contains("libGLX_nvidia.so.0"), "{w}");
    }

    #[test]
    fn icd_library_path_is_parsed() {
        let text = r#"{ "file_format_version" : "1.0.0", "ICD": { "library_path": "libGLX_nvidia.so.0", "api_version" : "1.3.277" } }"#;
        assert_eq!(
            json_string_field(text, "library_path").as_deref(),
            Some("libGLX_nvidia.so.0")
        );
        assert_eq!(json_string_field(text, "missing"), None);
    }

    #[test]
    fn probe_runs_on_any_host() {
        // Whatever this machine has, probing must not fail or panic.
        let facts = HostGpuFacts::probe();
        let _ = facts.has_nvidia_gpu();
    }
}
