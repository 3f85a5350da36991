//! The batched offscreen renderer.
//!
//! Input: [`Scene`]s referring to meshes and textures uploaded once. Output: one
//! [`RenderedImage`] per scene. Up to `batch` scenes are recorded into one command buffer and
//! one submission: each image slot has its own small render targets (colour, class+instance
//! labels, depth; 4x multisampled, or 2x2 supersampled on CPU adapters), all drawn at the same
//! window origin so an image's bytes never depend on where it sits in a batch. A compute pass
//! then resolves every slot into image-major records in one storage buffer (colour averaged in
//! linear light and encoded to sRGB, labels from the majority sample, never blended, depth
//! converted to camera-space z), which is read back with one buffer copy per batch (packed
//! records, so no 256-byte row padding is needed). `render_stream` keeps `frames_in_flight`
//! batches in flight so that scene preparation, GPU work and readback overlap.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtd_textures::Texture;
use glam::{Mat3, Mat4, Vec3};
use shapenet_loader::Mesh;

use crate::adapter::{AdapterSummary, new_instance, pick_adapter};
use crate::config::{Antialias, RendererConfig};
use crate::error::{RenderError, StreamError};
use crate::gpu_types::{
    COVERAGE_OBJECTS, DepthParams, DrawData, KIND_BACKGROUND, KIND_OBJECT, NO_TEXTURE,
    OUTPUT_PIXEL_BYTES, ResolveParams, Vertex,
};
use crate::pool::{MeshPool, MeshRange, Orientation, TexturePool, validate_mesh};
use crate::scene::{MeshId, RenderedImage, Scene, TextureId};

/// Most objects one scene may hold (instance ids are u8, 0 is the background).
pub const MAX_OBJECTS_PER_SCENE: usize = 255;
/// The background quad covers this multiple of the visible part of its plane.
const BACKGROUND_MARGIN: f32 = 1.5;

/// Draw kinds, in drawing order (objects before the background plane); a draw's sort key is
/// `kind << 2 | cull`, and `pipeline_index` maps it to one of the 9 scene pipelines.
const DRAW_FLAT_OBJECT: u8 = 0;
const DRAW_TEXTURED_OBJECT: u8 = 1;
const DRAW_TEXTURED_BACKGROUND: u8 = 2;
const DRAW_FLAT_BACKGROUND: u8 = 3;

/// Face culling of a draw: none, back faces, or front faces (closed meshes wound inward, or
/// outward meshes under a mirroring transform). Index into the cull variants of a pipeline.
const CULL_NONE: u8 = 0;
const CULL_BACK: u8 = 1;
const CULL_FRONT: u8 = 2;

/// Index into `Renderer::scene_pipelines` of a draw key (`kind << 2 | cull`): the shader's
/// TEXTURE_MODE times 3 plus the cull variant.
fn pipeline_index(key: u8) -> usize {
    let mode = match key >> 2 {
        DRAW_TEXTURED_OBJECT => 1,
        DRAW_TEXTURED_BACKGROUND => 2,
        _ => 0,
    };
    mode * 3 + (key & 3) as usize
}

/// The cull variant for a mesh of this orientation drawn with a transform whose determinant has
/// this sign (a mirroring transform turns the winding around).
fn cull_of(orientation: Orientation, det: f32) -> u8 {
    match (orientation, det > 0.0) {
        (Orientation::Open, _) => CULL_NONE,
        (Orientation::Outward, true) | (Orientation::Inward, false) => CULL_BACK,
        (Orientation::Outward, false) | (Orientation::Inward, true) => CULL_FRONT,
    }
}

const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
const LABEL_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rg8Uint;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
const SHADOW_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
const COVERAGE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// The shadow map's frustum is widened by this factor around the objects' bounding sphere.
const SHADOW_FRUSTUM_MARGIN: f32 = 1.04;
/// Half-angle (radians) of the shadow frustum when the light is inside the objects' bounding
/// sphere (objects outside this cone around the sphere's centre cast no shadow then).
const SHADOW_FALLBACK_HALF_ANGLE: f32 = 1.3;
/// Normal offset of the shadow lookup, in shadow-map texels (at the objects' distance).
const SHADOW_NORMAL_OFFSET_TEXELS: f32 = 1.0;
/// Spacing of the four PCF taps, in texels: with bilinear comparisons the filter covers about
/// 4 x 4 texels.
const SHADOW_PCF_SPACING_TEXELS: f32 = 1.0;

/// Cumulative timings of the renderer since creation (or the last [`Renderer::reset_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RenderStats {
    /// Images rendered.
    pub images: u64,
    /// GPU submissions.
    pub batches: u64,
    /// CPU time validating scenes and building draw data.
    pub prepare: Duration,
    /// Time recording and submitting command buffers. On GPUs this should be small; on lavapipe
    /// a submission made while the previous batch is in flight returns only once the driver has
    /// drawn it, so most of the rendering time shows up here.
    pub submit: Duration,
    /// Time blocked waiting for the device to finish a batch (rendering, resolve, copy).
    pub gpu_wait: Duration,
    /// CPU time copying mapped readback memory into [`RenderedImage`]s.
    pub readback: Duration,
}

/// The render targets of one image slot of a batch (each image has its own, all at the same
/// window origin, so an image's bytes never depend on its position in the batch).
struct Targets {
    color: wgpu::TextureView,
    labels: wgpu::TextureView,
    depth: wgpu::TextureView,
    /// Coverage marks of objects 0..3 (`RendererConfig::coverage`; else a shared 1x1 dummy,
    /// never drawn to or counted).
    coverage: wgpu::TextureView,
}

/// A batch submitted but not yet read back.
struct InFlight {
    slot: usize,
    submission: wgpu::SubmissionIndex,
    first_index: usize,
    count: usize,
    /// Per image: how many objects' unoccluded counts it has (0 without coverage).
    counted: Vec<u8>,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

/// Errors reported by wgpu outside of a call's return value, collected for the next check.
type ErrorLog = Arc<Mutex<Vec<(bool, String)>>>;

/// Batched offscreen renderer on one wgpu device. See the module docs.
pub struct Renderer {
    config: RendererConfig,
    /// Method in use (`Auto` resolved).
    antialias: Antialias,
    /// Side of the supersampling grid (1 without supersampling).
    factor: u32,
    summary: AdapterSummary,
    device: wgpu::Device,
    queue: wgpu::Queue,
    errors: ErrorLog,
    /// Images per submission.
    batch: usize,
    meshes: MeshPool,
    textures: TexturePool,
    sampler: wgpu::Sampler,
    /// Scene pipelines by texture mode: flat, cube-projected, planar (background).
    /// Scene pipelines: TEXTURE_MODE (flat, cube-projected, background) x cull (none, back,
    /// front); see `pipeline_index`.
    scene_pipelines: Vec<wgpu::RenderPipeline>,
    texture_layout: wgpu::BindGroupLayout,
    texture_bind_group: wgpu::BindGroup,
    draw_layout: wgpu::BindGroupLayout,
    draw_bind_group: wgpu::BindGroup,
    draw_buffer: wgpu::Buffer,
    /// Bytes between consecutive draws in `draw_buffer` (uniform offset alignment).
    draw_stride: u64,
    draw_capacity: u64,
    resolve_pipeline: wgpu::ComputePipeline,
    /// Whether images get a shadow pass (`RendererConfig::shadows`).
    shadows: bool,
    /// Side of each image's shadow map in texels.
    shadow_size: u32,
    /// Shadow-pass pipelines by the draw's cull variant (none, back, front), each culling the
    /// opposite faces: closed meshes store their back faces, which keeps lit faces free of acne.
    shadow_pipelines: Vec<wgpu::RenderPipeline>,
    /// One depth layer per image slot (render attachments of the shadow passes).
    shadow_layers: Vec<wgpu::TextureView>,
    /// All layers, sampled by the scene pass (kept alive for the texture bind group).
    shadow_view: wgpu::TextureView,
    shadow_sampler: wgpu::Sampler,
    /// Bounding-sphere radius about the mesh origin, per mesh range (0: the background quad).
    mesh_radii: Vec<f32>,
    /// Whether images get a coverage pass (`RendererConfig::coverage`).
    coverage: bool,
    /// Coverage-pass pipelines by cull variant (none, back, front).
    coverage_pipelines: Vec<wgpu::RenderPipeline>,
    /// Per image slot, unoccluded pixel counts of objects 0..3 (atomics of the resolve pass).
    coverage_counts: wgpu::Buffer,
    /// Per draw of the batch: the object's position in its scene, or `u8::MAX` (background).
    draw_rank: Vec<u8>,
    /// Per scene of the batch: its number of objects.
    scene_objects: Vec<usize>,
    /// One per image slot: that slot's targets plus the shared output and parameters.
    resolve_bind_groups: Vec<wgpu::BindGroup>,
    /// Per-slot `ResolveParams` at `params_stride` (bound with a dynamic offset; written once,
    /// held here only to keep it alive next to its bind groups).
    _params_buffer: wgpu::Buffer,
    params_stride: u64,
    depth_params_buffer: wgpu::Buffer,
    depth_params: Vec<DepthParams>,
    output_buffer: wgpu::Buffer,
    readback: Vec<wgpu::Buffer>,
    targets: Vec<Targets>,
    draws: Vec<u8>,
    /// (image slot, draw kind, draw number, mesh range), sorted before encoding.
    commands: Vec<(u32, u8, u32, MeshRange)>,
    stats: RenderStats,
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_color(c: [f32; 3]) -> [f32; 3] {
    c.map(|v| srgb_to_linear(v.clamp(0.0, 1.0)))
}

fn finite3(v: [f32; 3]) -> bool {
    v.iter().all(|c| c.is_finite())
}

impl Renderer {
    /// Opens the adapter named by `config.adapter` (or the best one: a real GPU before the
    /// software adapter), creates the device, pipelines and atlas targets.
    pub fn new(config: RendererConfig) -> Result<Renderer, RenderError> {
        config.validate()?;
        let instance = new_instance();
        let (adapter, summary) = pick_adapter(&instance, config.adapter.as_deref())?;
        let antialias = match (config.antialias, config.samples) {
            (_, 1) => Antialias::Supersample, // factor 1: plain single-sample rendering
            (Antialias::Auto, _) if summary.is_software() => Antialias::Supersample,
            (Antialias::Auto, _) => Antialias::Msaa,
            (method, _) => method,
        };
        // Sub-pixel grid side (SSAA) and the sample count of the render targets (MSAA).
        let (factor, msaa_samples) = match antialias {
            Antialias::Msaa => (1, config.samples),
            _ => (config.samples.isqrt(), 1),
        };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("renderer"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| RenderError::DeviceRequest {
            adapter: summary.name.clone(),
            message: e.to_string(),
        })?;
        tracing::info!(adapter = %summary, "renderer device created");

        let errors: ErrorLog = Arc::new(Mutex::new(Vec::new()));
        {
            let log = errors.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let oom = matches!(e, wgpu::Error::OutOfMemory { .. });
                if let Ok(mut log) = log.lock() {
                    log.push((oom, e.to_string()));
                }
            }));
            let log = errors.clone();
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut log) = log.lock() {
                    log.push((false, format!("device lost ({reason:?}): {message}")));
                }
            });
        }

        let max_pixels_per_buffer = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / OUTPUT_PIXEL_BYTES;
        let image_pixels = config.width as u64 * config.height as u64;
        let batch = config.batch;
        if batch as u64 * image_pixels > max_pixels_per_buffer {
            return Err(RenderError::InvalidConfig {
                field: "batch",
                value: config.batch.to_string(),
                expected: format!(
                    "at most {} images of {}x{} per batch on this adapter",
                    max_pixels_per_buffer / image_pixels,
                    config.width,
                    config.height
                ),
            });
        }
        let pixels = batch as u64 * image_pixels;
        let tile = (config.width * factor, config.height * factor);
        if tile.0 > limits.max_texture_dimension_2d || tile.1 > limits.max_texture_dimension_2d {
            return Err(RenderError::InvalidConfig {
                field: "width/height",
                value: format!("{}x{}", config.width, config.height),
                expected: format!(
                    "at most {} pixels per side (times the supersampling factor {factor})",
                    limits.max_texture_dimension_2d
                ),
            });
        }

        let mut meshes = MeshPool::new(&device);
        // Range 0: the background quad, (+-1, +-1, 0) facing +z.
        meshes.push(
            &device,
            &queue,
            &[
                [-1.0, -1.0, 0.0],
                [1.0, -1.0, 0.0],
                [1.0, 1.0, 0.0],
                [-1.0, 1.0, 0.0],
            ],
            &[[0.0, 0.0, 1.0]; 4],
            &[0, 1, 2, 0, 2, 3],
        );
        let textures = TexturePool::new(
            &device,
            config.texture_size,
            limits.max_texture_array_layers,
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("triplanar sampler"),
            address_mode_u: wgpu::AddressMode::Repeat,
            address_mode_v: wgpu::AddressMode::Repeat,
            address_mode_w: wgpu::AddressMode::Repeat,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            mipmap_filter: wgpu::MipmapFilterMode::Linear,
            ..Default::default()
        });
        // Shadow maps: one depth layer per image slot (a single layer when shadows are off,
        // so the bind group layout stays the same).
        let shadows = config.shadows;
        let shadow_size = config.shadow_map_side();
        let shadow_layer_count = if shadows { batch as u32 } else { 1 };
        if shadow_layer_count > limits.max_texture_array_layers
            || shadow_size > limits.max_texture_dimension_2d
        {
            return Err(RenderError::InvalidConfig {
                field: "batch",
                value: config.batch.to_string(),
                expected: format!(
                    "at most {} images per batch with shadows on this adapter (one shadow-map \
                     layer each, at most {} texels per side)",
                    limits.max_texture_array_layers, limits.max_texture_dimension_2d
                ),
            });
        }
        let shadow_texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("shadow maps"),
            size: wgpu::Extent3d {
                width: shadow_size,
                height: shadow_size,
                depth_or_array_layers: shadow_layer_count,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: SHADOW_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let shadow_view = shadow_texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("shadow maps (all layers)"),
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        });
        let shadow_layers: Vec<wgpu::TextureView> = if shadows {
            (0..shadow_layer_count)
                .map(|layer| {
                    shadow_texture.create_view(&wgpu::TextureViewDescriptor {
                        label: Some("shadow map layer"),
                        dimension: Some(wgpu::TextureViewDimension::D2),
                        base_array_layer: layer,
                        array_layer_count: Some(1),
                        ..Default::default()
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        // Bilinear depth comparison: each tap is a 2x2 percentage-closer filter. Lookups outside
        // the map never reach it (the shader treats them as lit).
        let shadow_sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("shadow sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            compare: Some(wgpu::CompareFunction::LessEqual),
            ..Default::default()
        });

        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("texture bind group layout"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2Array,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Depth,
                        view_dimension: wgpu::TextureViewDimension::D2Array,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Comparison),
                    count: None,
                },
            ],
        });
        let draw_size = std::mem::size_of::<DrawData>() as u64;
        let draw_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("draw bind group layout"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: wgpu::BufferSize::new(draw_size),
                },
                count: None,
            }],
        });
        let align = (limits.min_uniform_buffer_offset_alignment as u64).max(16);
        let draw_stride = draw_size.div_ceil(align) * align;
        let scene_module = device.create_shader_module(wgpu::include_wgsl!("shaders/scene.wgsl"));
        let scene_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("scene pipeline layout"),
                bind_group_layouts: &[Some(&texture_layout), Some(&draw_layout)],
                immediate_size: 0,
            });
        let target = |format| {
            Some(wgpu::ColorTargetState {
                format,
                blend: None,
                write_mask: wgpu::ColorWrites::ALL,
            })
        };
        let targets_state = [target(COLOR_FORMAT), target(LABEL_FORMAT)];
        let make_pipeline = |mode: u32, cull_mode: Option<wgpu::Face>| {
            let constants = [
                ("TEXTURE_MODE", mode as f64),
                ("SHADOWS", if shadows { 1.0 } else { 0.0 }),
                ("PCF_TAPS", if factor > 1 { 1.0 } else { 4.0 }),
            ];
            let options = wgpu::PipelineCompilationOptions {
                constants: &constants,
                zero_initialize_workgroup_memory: false,
            };
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("scene pipeline"),
                layout: Some(&scene_pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &scene_module,
                    entry_point: Some("vs_main"),
                    compilation_options: options.clone(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: std::mem::size_of::<Vertex>() as u64,
                        step_mode: wgpu::VertexStepMode::Vertex,
                        attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3],
                    })],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    front_face: wgpu::FrontFace::Ccw,
                    cull_mode,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(true),
                    // Reversed z: 1 at the near plane, 0 at the far plane.
                    depth_compare: Some(wgpu::CompareFunction::Greater),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState {
                    count: msaa_samples,
                    mask: !0,
                    alpha_to_coverage_enabled: false,
                },
                fragment: Some(wgpu::FragmentState {
                    module: &scene_module,
                    entry_point: Some("fs_main"),
                    compilation_options: options,
                    targets: &targets_state,
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let scene_pipelines = (0..3u32)
            .flat_map(|mode| {
                [None, Some(wgpu::Face::Back), Some(wgpu::Face::Front)]
                    .map(|cull| make_pipeline(mode, cull))
            })
            .collect();
        // Shadow pass: depth only, seen from the light; group 0 (which holds the shadow maps)
        // is left out so a layer can be written while the array is bound elsewhere.
        let shadow_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("shadow pipeline layout"),
                bind_group_layouts: &[None, Some(&draw_layout)],
                immediate_size: 0,
            });
        let make_shadow_pipeline = |cull_mode: Option<wgpu::Face>| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("shadow pipeline"),
                layout: Some(&shadow_pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &scene_module,
                    entry_point: Some("vs_shadow"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: std::mem::size_of::<Vertex>() as u64,
                        step_mode: wgpu::VertexStepMode::Vertex,
                        attributes: &wgpu::vertex_attr_array![0 => Float32x3],
                    })],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    front_face: wgpu::FrontFace::Ccw,
                    cull_mode,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: SHADOW_FORMAT,
                    depth_write_enabled: Some(true),
                    depth_compare: Some(wgpu::CompareFunction::Less),
                    stencil: Default::default(),
                    bias: wgpu::DepthBiasState {
                        constant: 0,
                        slope_scale: 1.5,
                        clamp: 0.0,
                    },
                }),
                multisample: wgpu::MultisampleState::default(),
                fragment: None,
                multiview_mask: None,
                cache: None,
            })
        };
        // Indexed by the scene draw's cull variant; each culls the opposite faces.
        let shadow_pipelines = if shadows {
            [None, Some(wgpu::Face::Front), Some(wgpu::Face::Back)]
                .map(make_shadow_pipeline)
                .into()
        } else {
            Vec::new()
        };

        let coverage = config.coverage;
        let dummy_coverage = (!coverage).then(|| {
            create_target(
                &device,
                (1, 1),
                msaa_samples,
                "unused coverage",
                COVERAGE_FORMAT,
            )
        });
        let targets: Vec<Targets> = (0..batch)
            .map(|_| create_targets(&device, tile, msaa_samples, dummy_coverage.as_ref()))
            .collect();
        let make_coverage_pipeline = |cull_mode: Option<wgpu::Face>| {
            let max = wgpu::BlendComponent {
                src_factor: wgpu::BlendFactor::One,
                dst_factor: wgpu::BlendFactor::One,
                operation: wgpu::BlendOperation::Max,
            };
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("coverage pipeline"),
                layout: Some(&shadow_pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &scene_module,
                    entry_point: Some("vs_coverage"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: std::mem::size_of::<Vertex>() as u64,
                        step_mode: wgpu::VertexStepMode::Vertex,
                        attributes: &wgpu::vertex_attr_array![0 => Float32x3],
                    })],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    front_face: wgpu::FrontFace::Ccw,
                    cull_mode,
                    ..Default::default()
                },
                depth_stencil: None,
                multisample: wgpu::MultisampleState {
                    count: msaa_samples,
                    mask: !0,
                    alpha_to_coverage_enabled: false,
                },
                fragment: Some(wgpu::FragmentState {
                    module: &scene_module,
                    entry_point: Some("fs_coverage"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: COVERAGE_FORMAT,
                        blend: Some(wgpu::BlendState {
                            color: max,
                            alpha: max,
                        }),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let coverage_pipelines = if coverage {
            [None, Some(wgpu::Face::Back), Some(wgpu::Face::Front)]
                .map(make_coverage_pipeline)
                .into()
        } else {
            Vec::new()
        };
        let coverage_counts = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("coverage counts"),
            size: batch as u64 * COVERAGE_OBJECTS as u64 * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let ms = msaa_samples > 1;
        let resolve_source = if ms {
            include_str!("shaders/resolve_fetch_msaa.wgsl").replace(
                "const SAMPLES: u32 = 4u;",
                &format!("const SAMPLES: u32 = {msaa_samples}u;"),
            )
        } else {
            include_str!("shaders/resolve_fetch_ssaa.wgsl").to_string()
        } + include_str!("shaders/resolve.wgsl");
        let resolve_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("resolve.wgsl"),
            source: wgpu::ShaderSource::Wgsl(resolve_source.into()),
        });
        let tex_entry = |binding, sample_type| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Texture {
                sample_type,
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: ms,
            },
            count: None,
        };
        let resolve_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("resolve bind group layout"),
            entries: &[
                tex_entry(0, wgpu::TextureSampleType::Float { filterable: false }),
                tex_entry(1, wgpu::TextureSampleType::Depth),
                tex_entry(2, wgpu::TextureSampleType::Uint),
                tex_entry(6, wgpu::TextureSampleType::Float { filterable: false }),
                wgpu::BindGroupLayoutEntry {
                    binding: 7,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 4,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: wgpu::BufferSize::new(
                            std::mem::size_of::<ResolveParams>() as u64,
                        ),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 5,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
            ],
        });
        let resolve_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("resolve pipeline layout"),
                bind_group_layouts: &[Some(&resolve_layout)],
                immediate_size: 0,
            });
        let mut resolve_constants: Vec<(&str, f64)> = if ms {
            Vec::new()
        } else {
            vec![("FACTOR", factor as f64)]
        };
        resolve_constants.push(("COVERAGE", if coverage { 1.0 } else { 0.0 }));
        let resolve_pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("resolve pipeline"),
            layout: Some(&resolve_pipeline_layout),
            module: &resolve_module,
            entry_point: Some(if config.samples == 4 {
                "resolve4"
            } else {
                "resolve"
            }),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &resolve_constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let output_size = pixels * OUTPUT_PIXEL_BYTES;
        let output_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolve output"),
            size: output_size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        // Per-slot resolve parameters never change: written once here.
        let params_stride = (std::mem::size_of::<ResolveParams>() as u64).div_ceil(align) * align;
        let mut params_bytes = vec![0u8; (params_stride * batch as u64) as usize];
        for k in 0..batch {
            let p = ResolveParams {
                width: config.width,
                height: config.height,
                image: k as u32,
                pad: 0,
            };
            let at = k * params_stride as usize;
            params_bytes[at..at + std::mem::size_of::<ResolveParams>()]
                .copy_from_slice(bytemuck::bytes_of(&p));
        }
        let params_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolve params"),
            size: params_bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        queue.write_buffer(&params_buffer, 0, &params_bytes);
        let depth_params_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolve depth params"),
            size: batch as u64 * std::mem::size_of::<DepthParams>() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let resolve_bind_groups = targets
            .iter()
            .map(|t| {
                device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("resolve bind group"),
                    layout: &resolve_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::TextureView(&t.color),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: wgpu::BindingResource::TextureView(&t.depth),
                        },
                        wgpu::BindGroupEntry {
                            binding: 2,
                            resource: wgpu::BindingResource::TextureView(&t.labels),
                        },
                        wgpu::BindGroupEntry {
                            binding: 3,
                            resource: output_buffer.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 4,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &params_buffer,
                                offset: 0,
                                size: wgpu::BufferSize::new(
                                    std::mem::size_of::<ResolveParams>() as u64
                                ),
                            }),
                        },
                        wgpu::BindGroupEntry {
                            binding: 5,
                            resource: depth_params_buffer.as_entire_binding(),
                        },
                        wgpu::BindGroupEntry {
                            binding: 6,
                            resource: wgpu::BindingResource::TextureView(&t.coverage),
                        },
                        wgpu::BindGroupEntry {
                            binding: 7,
                            resource: coverage_counts.as_entire_binding(),
                        },
                    ],
                })
            })
            .collect();
        let readback = (0..config.frames_in_flight)
            .map(|i| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("readback {i}")),
                    size: output_size + coverage_counts.size(),
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();

        let draw_capacity = (batch as u64 * 2).max(64);
        let draw_buffer = draw_uniforms(&device, draw_capacity * draw_stride);
        let draw_bind_group = draw_bind_group(&device, &draw_layout, &draw_buffer);
        let texture_bind_group = texture_bind_group(
            &device,
            &texture_layout,
            [&textures.view, &shadow_view],
            [&sampler, &shadow_sampler],
        );
        let renderer = Renderer {
            config,
            antialias,
            factor,
            summary,
            device,
            queue,
            errors,
            batch,
            meshes,
            textures,
            sampler,
            scene_pipelines,
            texture_layout,
            texture_bind_group,
            draw_layout,
            draw_bind_group,
            draw_buffer,
            draw_stride,
            draw_capacity,
            resolve_pipeline,
            shadows,
            shadow_size,
            shadow_pipelines,
            shadow_layers,
            shadow_view,
            shadow_sampler,
            mesh_radii: vec![0.0],
            coverage,
            coverage_pipelines,
            coverage_counts,
            draw_rank: Vec::new(),
            scene_objects: Vec::new(),
            resolve_bind_groups,
            _params_buffer: params_buffer,
            params_stride,
            depth_params_buffer,
            depth_params: Vec::new(),
            output_buffer,
            readback,
            targets,
            draws: Vec::new(),
            commands: Vec::new(),
            stats: RenderStats::default(),
        };
        renderer.check_errors("creating the renderer")?;
        Ok(renderer)
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.summary
    }

    /// The configuration in use.
    pub fn config(&self) -> &RendererConfig {
        &self.config
    }

    /// Anti-aliasing method in use (`Auto` resolved for the adapter; `samples = 1` reports
    /// `Supersample` with a 1x1 grid, i.e. no anti-aliasing).
    pub fn antialias(&self) -> Antialias {
        self.antialias
    }

    /// Images per submission (`RendererConfig::batch`).
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Timings accumulated so far.
    pub fn stats(&self) -> RenderStats {
        self.stats
    }

    /// Zeroes the timings.
    pub fn reset_stats(&mut self) {
        self.stats = RenderStats::default();
    }

    /// Number of meshes uploaded.
    pub fn mesh_count(&self) -> usize {
        self.meshes.mesh_count()
    }

    /// Number of textures uploaded.
    pub fn texture_count(&self) -> usize {
        self.textures.count()
    }

    fn check_errors(&self, context: &str) -> Result<(), RenderError> {
        let first = match self.errors.lock() {
            Ok(mut log) => {
                let first = log.first().cloned();
                log.clear();
                first
            }
            Err(_) => Some((false, "error log poisoned".to_string())),
        };
        match first {
            None => Ok(()),
            Some((true, _)) => Err(RenderError::OutOfMemory {
                context: context.to_string(),
            }),
            Some((false, message)) => Err(RenderError::Gpu {
                context: context.to_string(),
                message,
            }),
        }
    }

    /// Uploads a mesh into the shared vertex/index pool; the handle stays valid for the
    /// renderer's lifetime.
    pub fn upload_mesh(&mut self, mesh: &Mesh) -> Result<MeshId, RenderError> {
        validate_mesh(mesh)?;
        let index = self.meshes.push(
            &self.device,
            &self.queue,
            &mesh.positions,
            &mesh.normals,
            &mesh.indices,
        );
        self.check_errors("uploading a mesh")?;
        let radius = mesh
            .positions
            .iter()
            .map(|p| Vec3::from(*p).length())
            .fold(0.0f32, f32::max);
        self.mesh_radii.push(radius);
        Ok(MeshId(index as u32 - 1))
    }

    /// Uploads a texture as a layer of the texture array (resized to
    /// `RendererConfig::texture_size` when its size differs; mipmaps built in linear light).
    pub fn upload_texture(&mut self, texture: &Texture) -> Result<TextureId, RenderError> {
        let (id, replaced) = self.textures.push(&self.device, &self.queue, texture)?;
        if replaced {
            self.texture_bind_group = texture_bind_group(
                &self.device,
                &self.texture_layout,
                [&self.textures.view, &self.shadow_view],
                [&self.sampler, &self.shadow_sampler],
            );
        }
        self.check_errors("uploading a texture")?;
        Ok(id)
    }

    /// Renders any number of scenes (internally in batches) and returns their images in order.
    pub fn render(&mut self, scenes: &[Scene]) -> Result<Vec<RenderedImage>, RenderError> {
        collect_stream(scenes, |scenes, sink| self.render_stream(scenes, sink))
    }

    /// Streams scenes through the renderer: batch *k+1* is prepared and submitted while batch
    /// *k* renders, and batch *k* is read back and handed to `sink(index, image)` (in input
    /// order) while later batches render. Stops at the first error of either side.
    pub fn render_stream<I, F, E>(&mut self, scenes: I, sink: F) -> Result<(), StreamError<E>>
    where
        I: IntoIterator<Item = Scene>,
        F: FnMut(usize, RenderedImage) -> Result<(), E>,
    {
        self.render_stream_from(0, scenes, sink)
    }

    /// `render_stream` with indices (in errors and for the sink) starting at `first_index`.
    pub(crate) fn render_stream_from<I, F, E>(
        &mut self,
        first_index: usize,
        scenes: I,
        mut sink: F,
    ) -> Result<(), StreamError<E>>
    where
        I: IntoIterator<Item = Scene>,
        F: FnMut(usize, RenderedImage) -> Result<(), E>,
    {
        let mut iter = scenes.into_iter();
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let mut chunk: Vec<Scene> = Vec::with_capacity(self.batch);
        let mut next_index = first_index;
        let mut slot = 0usize;
        let result = (|| {
            loop {
                chunk.clear();
                chunk.extend(iter.by_ref().take(self.batch));
                if chunk.is_empty() {
                    break;
                }
                if inflight.len() >= self.readback.len()
                    && let Some(done) = inflight.pop_front()
                {
                    self.finish_batch(done, &mut sink)?;
                }
                let submitted = self.submit_batch(&chunk, next_index, slot)?;
                inflight.push_back(submitted);
                next_index += chunk.len();
                slot = (slot + 1) % self.readback.len();
            }
            while let Some(done) = inflight.pop_front() {
                self.finish_batch(done, &mut sink)?;
            }
            Ok(())
        })();
        if result.is_err() {
            // Leave the readback buffers unmapped and idle for the next call.
            for pending in inflight.drain(..) {
                self.abandon(pending);
            }
        }
        result
    }

    fn abandon(&self, pending: InFlight) {
        let _ = self.device.poll(wgpu::PollType::Wait {
            submission_index: Some(pending.submission),
            timeout: None,
        });
        if let Ok(Ok(())) = pending.mapped.try_recv() {
            self.readback[pending.slot].unmap();
        }
    }

    /// Validates the scenes and turns them into draw data + per-tile draw commands.
    fn prepare(&mut self, scenes: &[Scene], first_index: usize) -> Result<(), RenderError> {
        self.draws.clear();
        self.commands.clear();
        self.depth_params.clear();
        self.draw_rank.clear();
        self.scene_objects.clear();
        let (w, h) = (self.config.width, self.config.height);
        let aspect = w as f32 / h as f32;
        let bg_range = self.meshes.ranges[0];
        let n_textures = self.textures.count();
        for (k, scene) in scenes.iter().enumerate() {
            let scene_index = first_index + k;
            let invalid = |reason: String| RenderError::InvalidScene {
                scene: scene_index,
                reason,
            };
            if scene.objects.len() > MAX_OBJECTS_PER_SCENE {
                return Err(RenderError::TooManyObjects {
                    scene: scene_index,
                    count: scene.objects.len(),
                    max: MAX_OBJECTS_PER_SCENE,
                });
            }
            let cam = &scene.camera;
            if !(finite3(cam.position) && finite3(cam.target) && finite3(cam.up)) {
                return Err(invalid("camera vectors are not finite".into()));
            }
            if !(cam.fov_y_deg > 0.0 && cam.fov_y_deg < 180.0) {
                return Err(invalid(format!(
                    "camera fov_y_deg {} is not in (0, 180)",
                    cam.fov_y_deg
                )));
            }
            if !(cam.near > 0.0 && cam.far > cam.near && cam.far.is_finite()) {
                return Err(invalid(format!(
                    "camera near {} / far {} must satisfy 0 < near < far",
                    cam.near, cam.far
                )));
            }
            let eye = Vec3::from(cam.position);
            let target = Vec3::from(cam.target);
            let up = Vec3::from(cam.up);
            let forward = (target - eye).normalize_or_zero();
            let right = forward.cross(up).normalize_or_zero();
            if forward == Vec3::ZERO || right == Vec3::ZERO {
                return Err(invalid(
                    "camera position equals its target, or up is parallel to the view".into(),
                ));
            }
            let true_up = right.cross(forward);
            let fov = cam.fov_y_deg.to_radians();
            let view_proj = view_projection(eye, right, true_up, forward, fov, aspect, cam);
            self.depth_params.push(depth_params(cam.near, cam.far));

            let light = &scene.light;
            if !(finite3(light.position) && finite3(light.intensity) && scene.fill.is_finite()) {
                return Err(invalid("light or fill is not finite".into()));
            }
            let light_pos = Vec3::from(light.position);
            let ref_dist2 = {
                let d2 = (light_pos - target).length_squared();
                if d2 > 1e-6 { d2 } else { 1.0 }
            };
            let light_color = Vec3::from(light.intensity) * ref_dist2;
            let (light_vp, shadow) = if self.shadows {
                let spheres = scene.objects.iter().filter_map(|o| {
                    let radius = *self.mesh_radii.get(o.mesh.0 as usize + 1)?;
                    let m = Mat4::from_cols_array_2d(&o.transform);
                    let scale = m
                        .x_axis
                        .truncate()
                        .length()
                        .max(m.y_axis.truncate().length())
                        .max(m.z_axis.truncate().length());
                    Some((m.w_axis.truncate(), radius * scale))
                });
                match shadow_frustum(light_pos, spheres, self.shadow_size) {
                    Some(f) => (
                        f.view_proj.to_cols_array_2d(),
                        [
                            1.0,
                            f.texel * SHADOW_NORMAL_OFFSET_TEXELS,
                            SHADOW_PCF_SPACING_TEXELS / self.shadow_size as f32,
                            k as f32,
                        ],
                    ),
                    None => (Mat4::IDENTITY.to_cols_array_2d(), [0.0; 4]),
                }
            } else {
                (Mat4::IDENTITY.to_cols_array_2d(), [0.0; 4])
            };
            let shared = DrawData {
                mvp: [[0.0; 4]; 4],
                model: [[0.0; 4]; 4],
                normal_mat: [[0.0; 4]; 3],
                eye: eye.extend(0.0).to_array(),
                light_pos: light_pos.extend(scene.fill).to_array(),
                light_color: light_color.extend(0.0).to_array(),
                color: [0.0; 4],
                params: [0.0; 4],
                ids: [0; 4],
                light_vp,
                shadow,
            };
            let tile = k as u32;
            let check_texture = |t: Option<TextureId>, what: String| match t {
                None => Ok(NO_TEXTURE),
                Some(id) if (id.0 as usize) < n_textures => Ok(id.0),
                Some(id) => Err(RenderError::InvalidTextureHandle {
                    scene: scene_index,
                    what,
                    texture: id.0,
                    uploaded: n_textures,
                }),
            };

            for (j, obj) in scene.objects.iter().enumerate() {
                let range = self
                    .meshes
                    .get(obj.mesh)
                    .ok_or(RenderError::InvalidMeshHandle {
                        scene: scene_index,
                        object: j,
                        mesh: obj.mesh.0,
                        uploaded: self.meshes.mesh_count(),
                    })?;
                let model = Mat4::from_cols_array_2d(&obj.transform);
                let m3 = Mat3::from_mat4(model);
                let det = m3.determinant();
                if !model.is_finite() || det.abs() < 1e-12 {
                    return Err(invalid(format!(
                        "object {j} transform is not finite or is singular"
                    )));
                }
                let normal_mat = m3.inverse().transpose();
                let mat = &obj.material;
                if !(finite3(mat.color)
                    && mat.texture_mix.is_finite()
                    && mat.texture_scale.is_finite()
                    && mat.specular.is_finite())
                {
                    return Err(invalid(format!("object {j} material is not finite")));
                }
                let layer = check_texture(mat.texture, format!("object {j}"))?;
                let kind = if layer == NO_TEXTURE || mat.texture_mix <= 0.0 {
                    DRAW_FLAT_OBJECT
                } else {
                    DRAW_TEXTURED_OBJECT
                };
                let key = kind << 2 | cull_of(range.orientation, det);
                self.commands
                    .push((tile, key, self.commands.len() as u32, range));
                self.draw_rank.push(j.min(u8::MAX as usize) as u8);
                push_draw(
                    &mut self.draws,
                    self.draw_stride,
                    &DrawData {
                        mvp: (view_proj * model).to_cols_array_2d(),
                        model: model.to_cols_array_2d(),
                        normal_mat: [
                            normal_mat.x_axis.extend(0.0).to_array(),
                            normal_mat.y_axis.extend(0.0).to_array(),
                            normal_mat.z_axis.extend(0.0).to_array(),
                        ],
                        color: {
                            let c = linear_color(mat.color);
                            [c[0], c[1], c[2], mat.texture_mix.clamp(0.0, 1.0)]
                        },
                        params: [
                            mat.texture_scale,
                            mat.specular.max(0.0),
                            0.0,
                            j.min(COVERAGE_OBJECTS) as f32,
                        ],
                        ids: [
                            obj.class_id as u32,
                            obj.instance_id as u32,
                            layer,
                            KIND_OBJECT,
                        ],
                        ..shared
                    },
                );
            }

            self.scene_objects.push(scene.objects.len());
            // Background plane last, so that early depth testing skips hidden parts of it.
            let bg = &scene.background;
            if !(finite3(bg.color)
                && finite3(bg.center)
                && bg.texture_mix.is_finite()
                && bg.texture_scale.is_finite())
            {
                return Err(invalid("background is not finite".into()));
            }
            let layer = check_texture(bg.texture, "background".into())?;
            let center = Vec3::from(bg.center);
            let dist = (center - eye).dot(forward);
            if dist > cam.near && dist < cam.far {
                let lateral = (center - eye - forward * dist).length();
                let half = (dist * (fov * 0.5).tan() * aspect.max(1.0) + lateral)
                    * BACKGROUND_MARGIN
                    * std::f32::consts::SQRT_2;
                let model = Mat4::from_cols(
                    (right * half).extend(0.0),
                    (true_up * half).extend(0.0),
                    (-forward).extend(0.0),
                    center.extend(1.0),
                );
                // Backgrounds sort after the objects: early depth tests skip its hidden part.
                let mode = if layer == NO_TEXTURE || bg.texture_mix <= 0.0 {
                    DRAW_FLAT_BACKGROUND
                } else {
                    DRAW_TEXTURED_BACKGROUND
                } << 2
                    | CULL_NONE;
                self.commands
                    .push((tile, mode, self.commands.len() as u32, bg_range));
                self.draw_rank.push(u8::MAX);
                let c = linear_color(bg.color);
                // Texels per rendered (sub-)pixel on the plane -> the mip level to sample.
                let metres_per_px = 2.0 * dist * (fov * 0.5).tan() / (h * self.factor) as f32;
                let texels_per_px =
                    bg.texture_scale.abs() * metres_per_px * self.textures.size() as f32;
                let lod = texels_per_px.max(1e-6).log2().round().max(0.0);
                // The plane is lit by the point light like the objects, normalised at the
                // plane's centre (not at the objects), so it is neither black nor blown out.
                let bg_ref2 = (light_pos - center).length_squared().max(1e-6);
                let bg_light = Vec3::from(light.intensity) * bg_ref2;
                push_draw(
                    &mut self.draws,
                    self.draw_stride,
                    &DrawData {
                        mvp: (view_proj * model).to_cols_array_2d(),
                        model: model.to_cols_array_2d(),
                        normal_mat: [
                            (right / half).extend(0.0).to_array(),
                            (true_up / half).extend(0.0).to_array(),
                            (-forward).extend(0.0).to_array(),
                        ],
                        color: [c[0], c[1], c[2], bg.texture_mix.clamp(0.0, 1.0)],
                        params: [bg.texture_scale * half, 0.0, lod, 0.0],
                        ids: [0, 0, layer, KIND_BACKGROUND],
                        light_color: bg_light.extend(0.0).to_array(),
                        ..shared
                    },
                );
            }
        }
        // Per image: draws grouped by pipeline (objects before the background, so early depth
        // tests skip the hidden part of the plane), scene order kept within a pipeline.
        self.commands
            .sort_unstable_by_key(|&(tile, mode, seq, _)| (tile, mode, seq));
        Ok(())
    }

    fn submit_batch(
        &mut self,
        scenes: &[Scene],
        first_index: usize,
        slot: usize,
    ) -> Result<InFlight, RenderError> {
        let start = Instant::now();
        self.prepare(scenes, first_index)?;
        self.stats.prepare += start.elapsed();
        let start = Instant::now();
        let (w, h) = (self.config.width, self.config.height);
        let count = scenes.len();

        let n_draws = self.commands.len() as u64;
        if n_draws > self.draw_capacity {
            self.draw_capacity = n_draws.next_power_of_two();
            self.draw_buffer = draw_uniforms(&self.device, self.draw_capacity * self.draw_stride);
            self.draw_bind_group =
                draw_bind_group(&self.device, &self.draw_layout, &self.draw_buffer);
        }
        if !self.draws.is_empty() {
            self.queue.write_buffer(&self.draw_buffer, 0, &self.draws);
        }
        self.queue.write_buffer(
            &self.depth_params_buffer,
            0,
            bytemuck::cast_slice(&self.depth_params),
        );

        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("render batch"),
            });
        // Shadow passes first, all of them: one depth-only pass per image into its layer of the
        // shadow maps, drawing the objects (not the background, which is behind them and casts
        // nothing) from the light. The scene passes then only wait for them once.
        if self.shadows {
            let mut first = 0usize;
            for (tile, layer) in self.shadow_layers.iter().enumerate().take(count) {
                let end = self.commands[first..]
                    .iter()
                    .position(|c| c.0 != tile as u32)
                    .map_or(self.commands.len(), |n| first + n);
                let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("shadow pass"),
                    color_attachments: &[],
                    depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                        view: layer,
                        depth_ops: Some(wgpu::Operations {
                            load: wgpu::LoadOp::Clear(1.0),
                            store: wgpu::StoreOp::Store,
                        }),
                        stencil_ops: None,
                    }),
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                });
                pass.set_vertex_buffer(0, self.meshes.vertices.slice(..));
                pass.set_index_buffer(self.meshes.indices.slice(..), wgpu::IndexFormat::Uint32);
                let mut current_cull = u8::MAX;
                for &(_, key, seq, range) in &self.commands[first..end] {
                    if !matches!(key >> 2, DRAW_FLAT_OBJECT | DRAW_TEXTURED_OBJECT) {
                        continue;
                    }
                    let cull = key & 3;
                    if cull != current_cull {
                        current_cull = cull;
                        pass.set_pipeline(&self.shadow_pipelines[cull as usize]);
                    }
                    let offset = seq as u64 * self.draw_stride;
                    pass.set_bind_group(1, &self.draw_bind_group, &[offset as u32]);
                    pass.draw_indexed(
                        range.first_index..range.first_index + range.index_count,
                        range.base_vertex,
                        0..1,
                    );
                }
                first = end;
            }
        }
        // Coverage passes (objects 0..3 of each image, no depth test, max blending into the
        // image's coverage target), counted by the resolve pass.
        if self.coverage {
            encoder.clear_buffer(&self.coverage_counts, 0, None);
            let mut first = 0usize;
            for (tile, targets) in self.targets.iter().enumerate().take(count) {
                let end = self.commands[first..]
                    .iter()
                    .position(|c| c.0 != tile as u32)
                    .map_or(self.commands.len(), |n| first + n);
                let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("coverage pass"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &targets.coverage,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    depth_stencil_attachment: None,
                    timestamp_writes: None,
                    occlusion_query_set: None,
                    multiview_mask: None,
                });
                pass.set_vertex_buffer(0, self.meshes.vertices.slice(..));
                pass.set_index_buffer(self.meshes.indices.slice(..), wgpu::IndexFormat::Uint32);
                let mut current_cull = u8::MAX;
                for &(_, key, seq, range) in &self.commands[first..end] {
                    if self.draw_rank[seq as usize] as usize >= COVERAGE_OBJECTS {
                        continue;
                    }
                    let cull = key & 3;
                    if cull != current_cull {
                        current_cull = cull;
                        pass.set_pipeline(&self.coverage_pipelines[cull as usize]);
                    }
                    let offset = seq as u64 * self.draw_stride;
                    pass.set_bind_group(1, &self.draw_bind_group, &[offset as u32]);
                    pass.draw_indexed(
                        range.first_index..range.first_index + range.index_count,
                        range.base_vertex,
                        0..1,
                    );
                }
                first = end;
            }
        }
        // One render pass per image, each into its own targets at the same window origin.
        // Software rasterizers (lavapipe) bin the next image while their worker threads
        // rasterize the previous one.
        // Every slot gets a pass (and so a clear), even a scene with nothing to draw.
        let mut first = 0usize;
        for (tile, targets) in self.targets.iter().enumerate().take(count) {
            let end = self.commands[first..]
                .iter()
                .position(|c| c.0 != tile as u32)
                .map_or(self.commands.len(), |n| first + n);
            let color_ops = |clear: wgpu::Color| wgpu::Operations {
                load: wgpu::LoadOp::Clear(clear),
                store: wgpu::StoreOp::Store,
            };
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("scene pass"),
                color_attachments: &[
                    Some(wgpu::RenderPassColorAttachment {
                        view: &targets.color,
                        depth_slice: None,
                        resolve_target: None,
                        ops: color_ops(wgpu::Color::BLACK),
                    }),
                    Some(wgpu::RenderPassColorAttachment {
                        view: &targets.labels,
                        depth_slice: None,
                        resolve_target: None,
                        ops: color_ops(wgpu::Color::TRANSPARENT),
                    }),
                ],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &targets.depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(0.0),
                        store: wgpu::StoreOp::Store,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_bind_group(0, &self.texture_bind_group, &[]);
            pass.set_vertex_buffer(0, self.meshes.vertices.slice(..));
            pass.set_index_buffer(self.meshes.indices.slice(..), wgpu::IndexFormat::Uint32);
            let mut current_mode = u8::MAX;
            for &(_, mode, seq, range) in &self.commands[first..end] {
                if mode != current_mode {
                    current_mode = mode;
                    pass.set_pipeline(&self.scene_pipelines[pipeline_index(mode)]);
                }
                let offset = seq as u64 * self.draw_stride;
                pass.set_bind_group(1, &self.draw_bind_group, &[offset as u32]);
                pass.draw_indexed(
                    range.first_index..range.first_index + range.index_count,
                    range.base_vertex,
                    0..1,
                );
            }
            first = end;
        }
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("resolve pass"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.resolve_pipeline);
            for k in 0..count {
                let offset = (k as u64 * self.params_stride) as u32;
                pass.set_bind_group(0, &self.resolve_bind_groups[k], &[offset]);
                pass.dispatch_workgroups(w.div_ceil(8), h.div_ceil(8), 1);
            }
        }
        let mut bytes = count as u64 * w as u64 * h as u64 * OUTPUT_PIXEL_BYTES;
        encoder.copy_buffer_to_buffer(&self.output_buffer, 0, &self.readback[slot], 0, bytes);
        let counted: Vec<u8> = if self.coverage {
            // The counts follow the pixel records in the readback buffer.
            let count_bytes = (count * COVERAGE_OBJECTS * 4) as u64;
            encoder.copy_buffer_to_buffer(
                &self.coverage_counts,
                0,
                &self.readback[slot],
                bytes,
                count_bytes,
            );
            bytes += count_bytes;
            self.scene_objects
                .iter()
                .map(|&n| n.min(COVERAGE_OBJECTS) as u8)
                .collect()
        } else {
            vec![0; count]
        };
        let submission = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        self.readback[slot]
            .slice(..bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.check_errors("submitting a batch")?;
        self.stats.submit += start.elapsed();
        self.stats.batches += 1;
        Ok(InFlight {
            slot,
            submission,
            first_index,
            count,
            counted,
            mapped: rx,
        })
    }

    fn finish_batch<F, E>(&mut self, done: InFlight, sink: &mut F) -> Result<(), StreamError<E>>
    where
        F: FnMut(usize, RenderedImage) -> Result<(), E>,
    {
        let start = Instant::now();
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(done.submission.clone()),
                timeout: None,
            })
            .map_err(|e| RenderError::Readback {
                message: e.to_string(),
            })?;
        let mapped = match done.mapped.try_recv() {
            Ok(r) => r,
            Err(_) => {
                // The callback runs on the next poll after the submission completes.
                self.device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .map_err(|e| RenderError::Readback {
                        message: e.to_string(),
                    })?;
                done.mapped.recv().map_err(|_| RenderError::Readback {
                    message: "map callback was dropped".into(),
                })?
            }
        };
        mapped.map_err(|e| RenderError::Readback {
            message: e.to_string(),
        })?;
        self.check_errors("rendering a batch")?;
        let waited = start.elapsed();
        self.stats.gpu_wait += waited;

        let start = Instant::now();
        let (w, h) = (self.config.width as usize, self.config.height as usize);
        let pixels = w * h;
        let image_bytes = pixels * OUTPUT_PIXEL_BYTES as usize;
        let buffer = &self.readback[done.slot];
        let pixel_bytes = done.count * image_bytes;
        let count_bytes = if self.coverage {
            done.count * COVERAGE_OBJECTS * 4
        } else {
            0
        };
        let images: Vec<RenderedImage> = {
            let view = buffer
                .slice(..(pixel_bytes + count_bytes) as u64)
                .get_mapped_range()
                .map_err(|e| RenderError::Readback {
                    message: e.to_string(),
                })?;
            let (records, counts) = view.split_at(pixel_bytes);
            records
                .chunks_exact(image_bytes)
                .enumerate()
                .map(|(k, data)| {
                    let mut image = decode_image(data, w as u32, h as u32);
                    let n = done.counted[k] as usize;
                    let at = k * COVERAGE_OBJECTS * 4;
                    image.unoccluded = counts
                        .get(at..at + n * 4)
                        .unwrap_or(&[])
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    image
                })
                .collect()
        };
        buffer.unmap();
        self.stats.readback += start.elapsed();
        self.stats.images += done.count as u64;
        for (k, image) in images.into_iter().enumerate() {
            let index = done.first_index + k;
            sink(index, image).map_err(|source| StreamError::Sink { index, source })?;
        }
        Ok(())
    }
}

/// The shadow map's projection for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ShadowFrustum {
    /// World -> clip space seen from the light (depth 0 at the near plane, 1 at the far plane).
    view_proj: Mat4,
    /// Size of one texel (metres) at the centre of the objects' bounding sphere.
    texel: f32,
}

/// Perspective frustum from the point light at `light` that just encloses the bounding spheres
/// `(centre, radius)` of a scene's objects, for a `size`-texel square shadow map. `None` when
/// there is nothing to cast a shadow (no object, or degenerate spheres). When the light is
/// inside the enclosing sphere, a wide cone ([`SHADOW_FALLBACK_HALF_ANGLE`]) towards its centre
/// is used.
fn shadow_frustum(
    light: Vec3,
    spheres: impl Iterator<Item = (Vec3, f32)>,
    size: u32,
) -> Option<ShadowFrustum> {
    let spheres: Vec<(Vec3, f32)> = spheres
        .filter(|(c, r)| c.is_finite() && r.is_finite() && *r > 0.0)
        .collect();
    if spheres.is_empty() {
        return None;
    }
    let centre = spheres.iter().map(|s| s.0).sum::<Vec3>() / spheres.len() as f32;
    let radius = spheres
        .iter()
        .map(|(c, r)| (*c - centre).length() + r)
        .fold(0.0f32, f32::max);
    let to_centre = centre - light;
    let dist = to_centre.length();
    let (half_angle, near) = if dist > radius * SHADOW_FRUSTUM_MARGIN {
        (
            (radius * SHADOW_FRUSTUM_MARGIN / dist).asin(),
            (dist - radius * SHADOW_FRUSTUM_MARGIN).max(dist * 1e-3),
        )
    } else {
        (SHADOW_FALLBACK_HALF_ANGLE, (radius * 1e-3).max(1e-3))
    };
    let far = dist + radius * SHADOW_FRUSTUM_MARGIN;
    let forward = if dist > 1e-6 {
        to_centre / dist
    } else {
        Vec3::NEG_Z
    };
    let up = if forward.z.abs() < 0.9 {
        Vec3::Z
    } else {
        Vec3::X
    };
    let right = forward.cross(up).normalize();
    let up = right.cross(forward);
    // Right-handed view looking down -z, then a perspective projection with depth 0 at `near`
    // and 1 at `far`.
    let view = Mat4::from_cols(
        glam::Vec4::new(right.x, up.x, -forward.x, 0.0),
        glam::Vec4::new(right.y, up.y, -forward.y, 0.0),
        glam::Vec4::new(right.z, up.z, -forward.z, 0.0),
        glam::Vec4::new(-right.dot(light), -up.dot(light), forward.dot(light), 1.0),
    );
    let s = 1.0 / half_angle.tan();
    let proj = Mat4::from_cols(
        glam::Vec4::new(s, 0.0, 0.0, 0.0),
        glam::Vec4::new(0.0, s, 0.0, 0.0),
        glam::Vec4::new(0.0, 0.0, far / (near - far), -1.0),
        glam::Vec4::new(0.0, 0.0, near * far / (near - far), 0.0),
    );
    Some(ShadowFrustum {
        view_proj: proj * view,
        texel: 2.0 * half_angle.tan() * dist / size as f32,
    })
}

/// Reversed-z depth mapping: NDC z = b / depth - a, so depth = b / (z + a); near -> 1, far -> 0.
fn depth_params(near: f32, far: f32) -> DepthParams {
    DepthParams {
        a: near / (far - near),
        b: near * far / (far - near),
    }
}

/// World -> clip matrix of a right-handed camera (looking down its -z) with a reversed-z
/// perspective projection: view depth `near` maps to NDC z 1, `far` to 0.
fn view_projection(
    eye: Vec3,
    right: Vec3,
    up: Vec3,
    forward: Vec3,
    fov_y: f32,
    aspect: f32,
    cam: &crate::scene::Camera,
) -> Mat4 {
    let view = Mat4::from_cols(
        glam::Vec4::new(right.x, up.x, -forward.x, 0.0),
        glam::Vec4::new(right.y, up.y, -forward.y, 0.0),
        glam::Vec4::new(right.z, up.z, -forward.z, 0.0),
        glam::Vec4::new(-right.dot(eye), -up.dot(eye), forward.dot(eye), 1.0),
    );
    let sy = 1.0 / (fov_y * 0.5).tan();
    let sx = sy / aspect;
    let DepthParams { a, b } = depth_params(cam.near, cam.far);
    let proj = Mat4::from_cols(
        glam::Vec4::new(sx, 0.0, 0.0, 0.0),
        glam::Vec4::new(0.0, sy, 0.0, 0.0),
        glam::Vec4::new(0.0, 0.0, a, -1.0),
        glam::Vec4::new(0.0, 0.0, b, 0.0),
    );
    proj * view
}

/// Splits one image's resolve records (12 bytes per pixel) into the output maps.
fn decode_image(data: &[u8], width: u32, height: u32) -> RenderedImage {
    let pixels = (width * height) as usize;
    let mut rgb = Vec::with_capacity(pixels * 3);
    let mut segmentation = Vec::with_capacity(pixels);
    let mut instance = Vec::with_capacity(pixels);
    let mut depth = Vec::with_capacity(pixels);
    for px in data.chunks_exact(OUTPUT_PIXEL_BYTES as usize) {
        rgb.extend_from_slice(&px[0..3]);
        segmentation.push(px[4]);
        instance.push(px[5]);
        depth.push(f32::from_le_bytes([px[8], px[9], px[10], px[11]]));
    }
    RenderedImage {
        width,
        height,
        rgb,
        segmentation,
        instance,
        depth,
        unoccluded: Vec::new(),
    }
}

/// Appends one draw's data, padded to the uniform offset alignment.
fn push_draw(out: &mut Vec<u8>, stride: u64, draw: &DrawData) {
    let start = out.len();
    out.extend_from_slice(bytemuck::bytes_of(draw));
    out.resize(start + stride as usize, 0);
}

fn draw_uniforms(device: &wgpu::Device, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("draw data"),
        size,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn draw_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    draws: &wgpu::Buffer,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("draw bind group"),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: draws,
                offset: 0,
                size: wgpu::BufferSize::new(std::mem::size_of::<DrawData>() as u64),
            }),
        }],
    })
}

/// Group 0 of the scene pass: `[texture array, shadow maps]` and `[texture sampler, shadow
/// comparison sampler]`.
fn texture_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    views: [&wgpu::TextureView; 2],
    samplers: [&wgpu::Sampler; 2],
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("texture bind group"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(views[0]),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Sampler(samplers[0]),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::TextureView(views[1]),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: wgpu::BindingResource::Sampler(samplers[1]),
            },
        ],
    })
}

fn create_target(
    device: &wgpu::Device,
    size: (u32, u32),
    msaa_samples: u32,
    label: &str,
    format: wgpu::TextureFormat,
) -> wgpu::TextureView {
    device
        .create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width: size.0,
                height: size.1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: msaa_samples,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        })
        .create_view(&wgpu::TextureViewDescriptor::default())
}

/// One image slot's targets; `shared_coverage` is the dummy used when coverage is off.
fn create_targets(
    device: &wgpu::Device,
    size: (u32, u32),
    msaa_samples: u32,
    shared_coverage: Option<&wgpu::TextureView>,
) -> Targets {
    let make = |label, format| create_target(device, size, msaa_samples, label, format);
    Targets {
        color: make("image colour", COLOR_FORMAT),
        labels: make("image labels", LABEL_FORMAT),
        depth: make("image depth buffer", DEPTH_FORMAT),
        coverage: match shared_coverage {
            Some(view) => view.clone(),
            None => make("image coverage", COVERAGE_FORMAT),
        },
    }
}

/// The sink that `render_stream` calls once per image.
pub(crate) type CollectSink<'a> =
    &'a mut dyn FnMut(usize, RenderedImage) -> Result<(), std::convert::Infallible>;

/// `render` for both [`Renderer`] and [`crate::MultiRenderer`]: runs `stream` (their
/// `render_stream`) over `scenes` with a sink that collects the images in input order.
pub(crate) fn collect_stream(
    scenes: &[Scene],
    stream: impl FnOnce(
        std::iter::Cloned<std::slice::Iter<'_, Scene>>,
        CollectSink<'_>,
    ) -> Result<(), StreamError<std::convert::Infallible>>,
) -> Result<Vec<RenderedImage>, RenderError> {
    let mut images = Vec::with_capacity(scenes.len());
    stream(scenes.iter().cloned(), &mut |_, image| {
        images.push(image);
        Ok(())
    })
    .map_err(|e| match e {
        StreamError::Render(e) => e,
        StreamError::Sink { source, .. } => match source {},
    })?;
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_maps_near_far_and_centre() {
        let cam = crate::scene::Camera::paper_default();
        let eye = Vec3::from(cam.position);
        let forward = (Vec3::from(cam.target) - eye).normalize();
        let right = forward.cross(Vec3::Z).normalize();
        let up = right.cross(forward);
        let vp = view_projection(
            eye,
            right,
            up,
            forward,
            cam.fov_y_deg.to_radians(),
            1.0,
            &cam,
        );
        let ndc = |p: Vec3| {
            let c = vp * p.extend(1.0);
            c.truncate() / c.w
        };
        let centre = ndc(eye + forward * 2.0);
        assert!(centre.x.abs() < 1e-6 && centre.y.abs() < 1e-6);
        assert!((ndc(eye + forward * cam.near).z - 1.0).abs() < 1e-5);
        assert!(ndc(eye + forward * cam.far).z.abs() < 1e-5);
        // The top edge of the frustum at distance 2 maps to y = 1; up is +y.
        let half_h = 2.0 * (cam.fov_y_deg.to_radians() * 0.5).tan();
        assert!((ndc(eye + forward * 2.0 + up * half_h).y - 1.0).abs() < 1e-5);
        assert!((ndc(eye + forward * 2.0 + right * half_h).x - 1.0).abs() < 1e-5);
    }

    #[test]
    fn decode_splits_records() {
        let mut data = Vec::new();
        data.extend_from_slice(&[1u8, 2, 3, 255]);
        data.extend_from_slice(&[7u8, 9, 0, 0]);
        data.extend_from_slice(&1.5f32.to_le_bytes());
        let img = decode_image(&data, 1, 1);
        assert_eq!(img.rgb, vec![1, 2, 3]);
        assert_eq!(img.segmentation, vec![7]);
        assert_eq!(img.instance, vec![9]);
        assert_eq!(img.depth, vec![1.5]);
    }
}
