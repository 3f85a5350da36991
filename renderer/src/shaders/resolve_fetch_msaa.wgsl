// Sample fetch for multisampled targets (MSAA): one texel per output pixel, SAMPLES samples.
// Prepended to resolve.wgsl.

const SAMPLES: u32 = 4u;

@group(0) @binding(0) var color_tex: texture_multisampled_2d<f32>;
@group(0) @binding(1) var depth_tex: texture_depth_multisampled_2d;
@group(0) @binding(2) var label_tex: texture_multisampled_2d<u32>;
@group(0) @binding(6) var coverage_tex: texture_multisampled_2d<f32>;

fn load_color(pixel: vec2<u32>, s: u32) -> vec3<f32> {
    return textureLoad(color_tex, vec2<i32>(pixel), i32(s)).rgb;
}

fn load_depth(pixel: vec2<u32>, s: u32) -> f32 {
    return textureLoad(depth_tex, vec2<i32>(pixel), i32(s));
}

fn load_labels(pixel: vec2<u32>, s: u32) -> vec2<u32> {
    return textureLoad(label_tex, vec2<i32>(pixel), i32(s)).xy;
}

fn load_coverage(pixel: vec2<u32>, s: u32) -> vec4<f32> {
    return textureLoad(coverage_tex, vec2<i32>(pixel), i32(s));
}
