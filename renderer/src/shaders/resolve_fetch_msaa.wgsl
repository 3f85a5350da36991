// Sample fetch for multisampled atlases (MSAA): one texel per output pixel, SAMPLES samples.
// Prepended to resolve.wgsl.

const SAMPLES: u32 = 4u;

@group(0) @binding(0) var color_tex: texture_multisampled_2d<f32>;
@group(0) @binding(1) var depth_tex: texture_depth_multisampled_2d;
@group(0) @binding(2) var label_tex: texture_multisampled_2d<u32>;

fn texel(tile: vec2<u32>, pixel: vec2<u32>) -> vec2<i32> {
    return vec2<i32>(tile * vec2<u32>(params.tile_width, params.tile_height) + pixel);
}

fn load_color(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> vec3<f32> {
    return textureLoad(color_tex, texel(tile, pixel), s).rgb;
}

fn load_depth(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> f32 {
    return textureLoad(depth_tex, texel(tile, pixel), s);
}

fn load_labels(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> vec2<u32> {
    return textureLoad(label_tex, texel(tile, pixel), s).xy;
}
