//! Several renderers working in parallel, for CPU (software) adapters.
//!
//! Input: the same calls as [`Renderer`] (config, mesh and texture uploads, scenes). Output:
//! the same images, in input order and byte-identical to a single renderer's (every image has
//! its own render targets, so it does not matter which lane draws it).
//!
//! Why: lavapipe runs a large part of each submission (vertex stage, binning, the resolve) on a
//! single driver thread, so one device keeps only about one core busy. `lanes` devices, each fed
//! whole batches by its own thread, overlap those serial parts; on the 2-core test VM two lanes
//! render ~1.6x as many images per second as one. On GPUs one lane is enough (the default).

use std::sync::mpsc;

use dtd_textures::Texture;
use shapenet_loader::Mesh;

use crate::adapter::AdapterSummary;
use crate::config::RendererConfig;
use crate::error::{RenderError, StreamError};
use crate::renderer::{RenderStats, Renderer, collect_stream};
use crate::scene::{MeshId, RenderedImage, Scene, TextureId};

/// A set of [`Renderer`]s ("lanes") on the same adapter, rendering batches in parallel. Assets
/// are uploaded to every lane, so handles are the same on all of them.
pub struct MultiRenderer {
    lanes: Vec<Renderer>,
}

impl MultiRenderer {
    /// Opens `lanes` renderers with the same config; `lanes = 0` picks automatically: 2 on a CPU
    /// adapter, 1 on a GPU.
    pub fn new(config: RendererConfig, lanes: usize) -> Result<MultiRenderer, RenderError> {
        let first = Renderer::new(config.clone())?;
        let n = match lanes {
            0 if first.adapter().is_software() => 2,
            0 => 1,
            n => n.min(16),
        };
        let mut all = vec![first];
        for _ in 1..n {
            all.push(Renderer::new(config.clone())?);
        }
        Ok(MultiRenderer { lanes: all })
    }

    /// Number of lanes (devices).
    pub fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// The adapter in use (the same for every lane).
    pub fn adapter(&self) -> &AdapterSummary {
        self.lanes[0].adapter()
    }

    /// Images per submission of each lane.
    pub fn batch_size(&self) -> usize {
        self.lanes[0].batch_size()
    }

    /// Uploads a mesh to every lane.
    pub fn upload_mesh(&mut self, mesh: &Mesh) -> Result<MeshId, RenderError> {
        self.upload_to_every_lane(|lane| lane.upload_mesh(mesh))
    }

    /// Uploads a texture to every lane.
    pub fn upload_texture(&mut self, texture: &Texture) -> Result<TextureId, RenderError> {
        self.upload_to_every_lane(|lane| lane.upload_texture(texture))
    }

    /// Runs `upload` on every lane in order, stopping at the first error, and returns the id
    /// the last lane gave.
    fn upload_to_every_lane<T>(
        &mut self,
        mut upload: impl FnMut(&mut Renderer) -> Result<T, RenderError>,
    ) -> Result<T, RenderError> {
        let mut id = None;
        for lane in &mut self.lanes {
            id = Some(upload(lane)?);
        }
        id.ok_or(RenderError::InvalidConfig {
            field: "lanes",
            value: "0".into(),
            expected: "at least 1".into(),
        })
    }

    /// Sum of the lanes' timings (CPU time of all lanes, not wall time).
    pub fn stats(&self) -> RenderStats {
        let mut total = RenderStats::default();
        for lane in &self.lanes {
            let s = lane.stats();
            total.images += s.images;
            total.batches += s.batches;
            total.prepare += s.prepare;
            total.submit += s.submit;
            total.gpu_wait += s.gpu_wait;
            total.readback += s.readback;
        }
        total
    }

    /// Zeroes the timings of every lane.
    pub fn reset_stats(&mut self) {
        for lane in &mut self.lanes {
            lane.reset_stats();
        }
    }

    /// Renders scenes and returns their images in order.
    pub fn render(&mut self, scenes: &[Scene]) -> Result<Vec<RenderedImage>, RenderError> {
        collect_stream(scenes, |scenes, sink| self.render_stream(scenes, sink))
    }

    /// Streams scenes: the calling thread pulls batches from `scenes` and hands them round-robin
    /// to the lanes' threads, then passes the images to `sink(index, image)` in input order.
    /// Neither the iterator nor the sink has to be `Send`. Stops at the first error.
    pub fn render_stream<I, F, E>(&mut self, scenes: I, mut sink: F) -> Result<(), StreamError<E>>
    where
        I: IntoIterator<Item = Scene>,
        F: FnMut(usize, RenderedImage) -> Result<(), E>,
    {
        if self.lanes.len() == 1 {
            return self.lanes[0].render_stream(scenes, sink);
        }
        let batch = self.batch_size();
        let n = self.lanes.len();
        type Done = Result<Vec<RenderedImage>, RenderError>;
        std::thread::scope(|scope| {
            // Per lane: a queue of (first index, scenes) in, one of results out (in order).
            let mut inputs = Vec::with_capacity(n);
            let mut outputs = Vec::with_capacity(n);
            for lane in self.lanes.iter_mut() {
                let (in_tx, in_rx) = mpsc::sync_channel::<(usize, Vec<Scene>)>(1);
                let (out_tx, out_rx) = mpsc::sync_channel::<Done>(1);
                scope.spawn(move || {
                    for (first, chunk) in in_rx {
                        let mut images = Vec::with_capacity(chunk.len());
                        let result = lane
                            .render_stream_from(first, chunk, |_, image| {
                                images.push(image);
                                Ok::<(), std::convert::Infallible>(())
                            })
                            .map(|()| images)
                            .map_err(|e| match e {
                                StreamError::Render(e) => e,
                                StreamError::Sink { source, .. } => match source {},
                            });
                        let failed = result.is_err();
                        if out_tx.send(result).is_err() || failed {
                            break;
                        }
                    }
                });
                inputs.push(in_tx);
                outputs.push(out_rx);
            }
            let mut iter = scenes.into_iter();
            let mut next_index = 0usize;
            // Batches sent but not yet received, per lane in round-robin order.
            let mut pending = std::collections::VecDeque::new();
            let mut lane = 0usize;
            let result = (|| {
                loop {
                    let chunk: Vec<Scene> = iter.by_ref().take(batch).collect();
                    let done = chunk.is_empty();
                    if !done {
                        // Keep at most two batches per lane queued or in flight.
                        if pending.len() >= 2 * n
                            && let Some((k, first)) = pending.pop_front()
                        {
                            deliver(&outputs[k], k, first, &mut sink)?;
                        }
                        let len = chunk.len();
                        if inputs[lane].send((next_index, chunk)).is_err() {
                            return Err(StreamError::Render(lane_gone(lane)));
                        }
                        pending.push_back((lane, next_index));
                        next_index += len;
                        lane = (lane + 1) % n;
                    }
                    if done {
                        break;
                    }
                }
                while let Some((k, first)) = pending.pop_front() {
                    deliver(&outputs[k], k, first, &mut sink)?;
                }
                Ok(())
            })();
            // Closing the inputs ends the lane threads; drain what they still send.
            drop(inputs);
            for out in &outputs {
                while out.recv().is_ok() {}
            }
            result
        })
    }
}

fn lane_gone(lane: usize) -> RenderError {
    RenderError::Gpu {
        context: format!("rendering on lane {lane}"),
        message: "the lane's thread stopped".into(),
    }
}

/// Receives one batch from a lane and hands its images to the sink.
fn deliver<F, E>(
    output: &mpsc::Receiver<Result<Vec<RenderedImage>, RenderError>>,
    lane: usize,
    first: usize,
    sink: &mut F,
) -> Result<(), StreamError<E>>
where
    F: FnMut(usize, RenderedImage) -> Result<(), E>,
{
    let images = output
        .recv()
        .map_err(|_| StreamError::Render(lane_gone(lane)))??;
    for (k, image) in images.into_iter().enumerate() {
        let index = first + k;
        sink(index, image).map_err(|source| StreamError::Sink { index, source })?;
    }
    Ok(())
}
