// Sample fetch for supersampled targets (SSAA): each output pixel is a FACTOR x FACTOR block of
// single-sample texels (sample s at column s % FACTOR, row s / FACTOR). FACTOR = 1 means no
// anti-aliasing. Prepended to resolve.wgsl; the renderer sets FACTOR (1..=4).

override FACTOR: u32 = 2u;
override SAMPLES: u32 = FACTOR * FACTOR;

@group(0) @binding(0) var color_tex: texture_2d<f32>;
@group(0) @binding(1) var depth_tex: texture_depth_2d;
@group(0) @binding(2) var label_tex: texture_2d<u32>;
@group(0) @binding(6) var coverage_tex: texture_2d<f32>;

fn texel(pixel: vec2<u32>, s: u32) -> vec2<i32> {
    return vec2<i32>(pixel * FACTOR + vec2<u32>(s % FACTOR, s / FACTOR));
}

fn load_color(pixel: vec2<u32>, s: u32) -> vec3<f32> {
    return textureLoad(color_tex, texel(pixel, s), 0).rgb;
}

fn load_depth(pixel: vec2<u32>, s: u32) -> f32 {
    return textureLoad(depth_tex, texel(pixel, s), 0);
}

fn load_labels(pixel: vec2<u32>, s: u32) -> vec2<u32> {
    return textureLoad(label_tex, texel(pixel, s), 0).xy;
}

fn load_coverage(pixel: vec2<u32>, s: u32) -> vec4<f32> {
    return textureLoad(coverage_tex, texel(pixel, s), 0);
}
