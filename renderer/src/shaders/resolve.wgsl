// Resolve pass: turns the multisampled atlas into per-image output records, image-major.
// Colour: mean of the samples in linear space, encoded to sRGB8. Labels: the id pair held by
// most samples (ties go to the nearest sample), never a blend. Depth: that sample's depth.
// Output per pixel: 3 words = packed RGBA8 sRGB, class | instance << 8, f32 depth bits.
// The renderer rewrites `texture_multisampled_2d` and SAMPLES for the single-sample variant.

const SAMPLES: i32 = 4;

struct ResolveParams {
    tile_width: u32,
    tile_height: u32,
    columns: u32,
    count: u32,
};

@group(0) @binding(0) var color_tex: texture_multisampled_2d<f32>;
@group(0) @binding(1) var depth_tex: texture_multisampled_2d<f32>;
@group(0) @binding(2) var label_tex: texture_multisampled_2d<u32>;
@group(0) @binding(3) var<storage, read_write> out_pixels: array<u32>;
@group(0) @binding(4) var<uniform> params: ResolveParams;

fn linear_to_srgb(c: vec3<f32>) -> vec3<f32> {
    let x = clamp(c, vec3<f32>(0.0), vec3<f32>(1.0));
    let lo = x * 12.92;
    let hi = 1.055 * pow(x, vec3<f32>(1.0 / 2.4)) - vec3<f32>(0.055);
    return select(hi, lo, x <= vec3<f32>(0.0031308));
}

@compute @workgroup_size(8, 8, 1)
fn resolve(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    let image = gid.z;
    if x >= params.tile_width || y >= params.tile_height || image >= params.count {
        return;
    }
    let tile = vec2<u32>(image % params.columns, image / params.columns);
    let p = vec2<i32>(tile * vec2<u32>(params.tile_width, params.tile_height) + vec2<u32>(x, y));

    var color = vec3<f32>(0.0);
    var labels: array<u32, 4>;
    var depths: array<f32, 4>;
    for (var s = 0; s < SAMPLES; s++) {
        color += textureLoad(color_tex, p, s).rgb;
        let l = textureLoad(label_tex, p, s).xy;
        labels[s] = l.x | (l.y << 8u);
        depths[s] = textureLoad(depth_tex, p, s).x;
    }
    color = color / f32(SAMPLES);

    var best = 0;
    var best_count = 0;
    for (var i = 0; i < SAMPLES; i++) {
        var count = 0;
        for (var j = 0; j < SAMPLES; j++) {
            if labels[j] == labels[i] {
                count++;
            }
        }
        if count > best_count || (count == best_count && depths[i] < depths[best]) {
            best = i;
            best_count = count;
        }
    }

    let index = (image * params.tile_height + y) * params.tile_width + x;
    out_pixels[index * 3u] = pack4x8unorm(vec4<f32>(linear_to_srgb(color), 1.0));
    out_pixels[index * 3u + 1u] = labels[best];
    out_pixels[index * 3u + 2u] = bitcast<u32>(depths[best]);
}
