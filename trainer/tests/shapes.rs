//! Output shapes of both backbones and the task models at 64 and 128 input.

use burn::prelude::*;
use trainer::backend::{B, Device, flex};
use trainer::model::{BackboneConfig, BackboneKind, Model, Output};
use trainer::tasks::Task;

fn input(b: usize, res: usize, device: &Device) -> Tensor<B, 4> {
    Tensor::zeros([b, 3, res, res], device)
}

#[test]
fn resnet9_feature_maps() {
    let device = flex();
    let cfg = BackboneConfig::new(BackboneKind::Resnet9).with_width(0.125);
    let net = cfg.init(&device);
    assert_eq!(net.forward(input(2, 64, &device)).dims(), [2, 32, 8, 8]);
    assert_eq!(net.forward(input(1, 128, &device)).dims(), [1, 32, 16, 16]);
    let dense = cfg.clone().with_dense(true).init(&device);
    assert_eq!(
        dense.forward(input(1, 128, &device)).dims(),
        [1, 64, 16, 16]
    );
    // Full width: 256 single-object / 512 dense projection channels.
    let full = BackboneConfig::new(BackboneKind::Resnet9);
    assert_eq!(full.projection_channels(), 256);
    assert_eq!(full.with_dense(true).projection_channels(), 512);
}

#[test]
fn resnet50_feature_maps() {
    let device = flex();
    let cfg = BackboneConfig::new(BackboneKind::Resnet50).with_width(1.0 / 16.0);
    let net = cfg.init(&device);
    // Output stride 16 without the stem max-pool.
    assert_eq!(net.forward(input(1, 64, &device)).dims(), [1, 16, 4, 4]);
    assert_eq!(net.forward(input(1, 128, &device)).dims(), [1, 16, 8, 8]);
    // Dilated layer4 for dense tasks: 16x16 at 128x128.
    let dense = cfg.with_dense(true).init(&device);
    assert_eq!(
        dense.forward(input(1, 128, &device)).dims(),
        [1, 32, 16, 16]
    );
    assert_eq!(dense.forward(input(1, 64, &device)).dims(), [1, 32, 8, 8]);
}

#[test]
fn task_heads() {
    let device = flex();
    for task in Task::ALL {
        for (kind, width) in [
            (BackboneKind::Resnet9, 0.125),
            (BackboneKind::Resnet50, 1.0 / 16.0),
        ] {
            let cfg = BackboneConfig::new(kind)
                .with_width(width)
                .with_dense(task.is_dense());
            let model = Model::new(&cfg, task.head(), task.outputs(), &device);
            for res in [64, 128] {
                let out = model.forward(input(2, res, &device), 16);
                match out {
                    Output::Image(t) => {
                        assert!(!task.is_dense());
                        assert_eq!(t.dims(), [2, task.outputs()]);
                    }
                    Output::Dense(t) => {
                        assert!(task.is_dense());
                        assert_eq!(t.dims(), [2, task.outputs(), 16, 16], "{task} {kind} {res}");
                    }
                }
            }
        }
    }
}
