//! Run-time choice of the burn device (`--backend flex|cuda|wgpu`).
//!
//! Input: a backend name. Output: a burn [`Device`] that has been probed with a tiny tensor
//! operation, or an error saying the backend is not compiled in (with the cargo feature that
//! enables it) or that no device answered.

use std::str::FromStr;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::TrainError;

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
                "--backend {}: no usable device ({why}); use --backend flex for the CPU",
                self.name()
            ))
        })?;
        Ok(device)
    }

    fn make_device(self) -> Device {
        match self {
            #[cfg(feature = "cuda")]
            BackendKind::Cuda => Device::cuda(0),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            _ => Device::flex(),
        }
    }
}

/// Run `1 + 1` on the device, turning a panic of a backend without hardware into an error.
fn probe(device: &Device) -> Result<(), String> {
    let device = device.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(move || {
        let t = Tensor::<1>::ones([1], &device) + 1.0;
        t.into_data()
            .try_into_vec_as::<f32>()
            .map(|v| v.first().copied())
    });
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(Some(v))) if (v - 2.0).abs() < 1e-6 => Ok(()),
        Ok(Ok(v)) => Err(format!("probe computed {v:?} instead of 2")),
        Ok(Err(e)) => Err(format!("{e:?}")),
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
    fn missing_features_give_a_clear_error() {
        for kind in [BackendKind::Cuda, BackendKind::Wgpu] {
            if !kind.compiled_in() {
                let e = kind.device().unwrap_err().to_string();
                assert!(e.contains("--features"), "{e}");
            }
        }
    }
}
