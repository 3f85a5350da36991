// Sample fetch for supersampled atlases (SSAA): each output pixel is a FACTOR x FACTOR block of
// single-sample texels (sample s at column s % FACTOR, row s / FACTOR). FACTOR = 1 means no
// anti-aliasing. Prepended to resolve.wgsl; the renderer sets FACTOR (1..=4).

override FACTOR: u32 = 2u;
override SAMPLES: u32 = FACTOR * FACTOR;

@group(0) @binding(0) var color_tex: texture_2d<f32>;
@group(0) @binding(1) var depth_tex: texture_depth_2d;
@group(0) @binding(2) var label_tex: texture_2d<u32>;

fn texel(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> vec2<i32> {
    let origin = tile * vec2<u32>(params.tile_width, params.tile_height) * FACTOR;
    return vec2<i32>(origin + pixel * FACTOR + vec2<u32>(s % FACTOR, s / FACTOR));
}

fn load_color(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> vec3<f32> {
    return textureLoad(color_tex, texel(tile, pixel, s), 0).rgb;
}

fn load_depth(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> f32 {
    return textureLoad(depth_tex, texel(tile, pixel, s), 0);
}

fn load_labels(tile: vec2<u32>, pixel: vec2<u32>, s: u32) -> vec2<u32> {
    return textureLoad(label_tex, texel(tile, pixel, s), 0).xy;
}
