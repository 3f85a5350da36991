//! The crate's one tensor backend and the run-time choice of its device
//! (`--backend flex|cuda|wgpu`).
//!
//! Every tensor and module of the crate uses [`B`], burn's dispatch backend: one concrete type
//! whose [`Device`] decides at run time where the work runs (flex on the CPU, CUDA, wgpu) and
//! whether gradients are tracked ([`autodiff`]). Modules that burn's `#[derive(Module)]` requires
//! to be generic are declared `Foo<B: Backend>` and used as `Foo<B>` with this alias.
//!
//! Input: a backend name. Output: a [`Device`] that has been probed with a tiny tensor
//! operation, or an error saying the backend is not compiled in (with the cargo feature that
//! enables it) or that no device answered.

use std::str::FromStr;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The tensor backend of the crate (burn's run-time dispatch over flex, cuda and wgpu).
pub type B = burn::Dispatch;

/// A device of [`B`]: which backend runs the work, and whether it tracks gradients.
pub type Device = burn::DispatchDevice;

/// The flex CPU device (always compiled in), without gradient tracking.
pub fn flex() -> Device {
    Device::Flex(burn_flex::FlexDevice)
}

/// `device` with gradient tracking (unchanged when it already tracks gradients).
pub fn autodiff(device: &Device) -> Device {
    match device {
        Device::Autodiff(_) => device.clone(),
        _ => Device::autodiff(device.clone()),
    }
}

/// `device` without gradient tracking.
pub fn without_autodiff(device: &Device) -> Device {
    match device {
        Device::Autodiff(inner) => (**inner).clone(),
        _ => device.clone(),
    }
}

/// The backends `train` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-flex: pure-Rust CPU backend, always compiled in.
    Flex,
    /// burn-cuda: NVIDIA GPUs (cargo feature `cuda`).
    Cuda,
    /// burn-wgpu: any wgpu adapter (cargo feature `wgpu`).
    Wgpu,
}

impl BackendKind {
    /// CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Cuda => "cuda",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Whether this build can use the backend.
    pub fn compiled_in(self) -> bool {
        match self {
            BackendKind::Flex => true,
            BackendKind::Cuda => cfg!(feature = "cuda"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The (non-autodiff) device, probed with a small computation.
    ///
    /// # Errors
    /// [`TrainError::Backend`] when the backend is not compiled in or its device fails.
    pub fn device(self) -> Result<Device, TrainError> {
        if !self.compiled_in() {
            return Err(TrainError::Backend(format!(
                "--backend {}: this `train` was built without it; rebuild with \
                 `cargo build --release -p trainer --features {}`",
                self.name(),
                self.name()
            )));
        }
        let device = self.make_device();
        probe(&device).map_err(|why| {
            TrainError::Backend(format!(
                "--backend {}: no usable device ({why}); {}",
                self.name(),
                self.hint(&why)
            ))
        })?;
        Ok(device)
    }

    /// What to do about a failed device probe that said `why`.
    fn hint(self, why: &str) -> &'static str {
        match self {
            // cudarc's message when dlopen finds none of the candidate names.
            BackendKind::Cuda if why.contains("\"nvrtc\" shared library") => {
                "burn's CUDA backend compiles its kernels at run time with NVRTC and needs \
                 libnvrtc.so: install the CUDA toolkit, or `pip install nvidia-cuda-nvrtc-cu12` \
                 and add its `nvidia/cuda_nvrtc/lib` folder (under the pip site-packages) to \
                 LD_LIBRARY_PATH (see the README); or use --backend flex for the CPU"
            }
            BackendKind::Cuda if why.contains("\"cuda\" shared library") => {
                "the NVIDIA driver library libcuda.so was not found: this needs an NVIDIA GPU \
                 with its driver (in a container: run it with the GPU passed through); or use \
                 --backend flex for the CPU"
            }
            _ => "use --backend flex for the CPU",
        }
    }

    fn make_device(self) -> Device {
        match self {
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => Device::Cuda(burn::backend::cuda::CudaDevice::new(0)),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Device::Wgpu(burn::backend::wgpu::WgpuDevice::DefaultDevice),
            _ => flex(),
        }
    }
}

/// Run `1 + 1` on the device, turning a panic of a backend without hardware into an error.
fn probe(device: &Device) -> Result<(), String> {
    let device = device.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        let t = Tensor::<B, 1>::ones([1], &device) + 1.0;
        crate::tasks::to_host_f32(t).map(|v| v.first().copied())
    });
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(Some(v))) if (v - 2.0).abs() < 1e-6 => Ok(()),
        Ok(Ok(v)) => Err(format!("probe computed {v:?} instead of 2")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked".into())),
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "flex" | "cpu" => Ok(BackendKind::Flex),
            "cuda" => Ok(BackendKind::Cuda),
            "wgpu" => Ok(BackendKind::Wgpu),
            other => Err(format!(
                "unknown backend `{other}`: expected flex, cuda or wgpu"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_available() {
        assert!(BackendKind::Flex.device().is_ok());
        assert_eq!("flex".parse::<BackendKind>().unwrap(), BackendKind::Flex);
        assert!("tpu".parse::<BackendKind>().is_err());
    }

    #[test]
    fn missing_cuda_libraries_are_named() {
        // The panic text of cudarc 0.19 when dlopen fails.
        let nvrtc = "Unable to dynamically load the \"nvrtc\" shared library - searched for \
                     library names: [\"libnvrtc.so\"]";
        let hint = BackendKind::Cuda.hint(nvrtc);
        assert!(
            hint.contains("libnvrtc") && hint.contains("nvidia-cuda-nvrtc"),
            "{hint}"
        );
        let driver = nvrtc.replace("nvrtc", "cuda");
        assert!(BackendKind::Cuda.hint(&driver).contains("libcuda.so"));
        assert_eq!(
            BackendKind::Wgpu.hint(nvrtc),
            "use --backend flex for the CPU"
        );
    }

    #[test]
    fn missing_features_give_a_clear_error() {
        for kind in [BackendKind::Cuda, BackendKind::Wgpu] {
            if !kind.compiled_in() {
                let e = kind.device().unwrap_err().to_string();
                assert!(e.contains("--features"), "{e}");
            }
        }
    }
}
