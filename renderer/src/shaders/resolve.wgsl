// Resolve pass (main logic): turns the rendered atlas into per-image output records,
// image-major. It is compiled after one of the fetch snippets (`resolve_fetch_msaa.wgsl` or
// `resolve_fetch_ssaa.wgsl`), which provide SAMPLES, the bindings 0-2 and
// load_color / load_depth / load_labels(tile_origin, pixel, sample).
//
// Colour: mean of the samples in linear light, encoded to sRGB8. Labels: the (class, instance)
// pair held by most samples, ties to the nearest sample: never a blend. Depth: the mean
// depth-buffer value (reversed z, affine in screen space) of the samples carrying that label,
// converted to camera-space z, so a plane covering the pixel gets exactly its pixel-centre depth;
// +inf where nothing was drawn.
// Output per pixel: 3 words = packed RGBA8 sRGB, class | instance << 8, f32 depth bits.

struct ResolveParams {
    tile_width: u32,
    tile_height: u32,
    columns: u32,
    count: u32,
};

@group(0) @binding(3) var<storage, read_write> out_pixels: array<u32>;
@group(0) @binding(4) var<uniform> params: ResolveParams;
// Per image: (a, b) with view depth = b / (ndc_z + a).
@group(0) @binding(5) var<storage, read> depth_params: array<vec2<f32>>;

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
    let pixel = vec2<u32>(x, y);
    let dp = depth_params[image];

    var color = vec3<f32>(0.0);
    var labels: array<u32, 16>;
    var zs: array<f32, 16>;
    for (var s = 0u; s < SAMPLES; s++) {
        color += load_color(tile, pixel, s);
        let l = load_labels(tile, pixel, s);
        labels[s] = l.x | (l.y << 8u);
        zs[s] = load_depth(tile, pixel, s);
    }
    color = color / f32(SAMPLES);

    // Majority label; ties go to the nearest sample (largest reversed z).
    var best = 0u;
    var best_count = 0u;
    for (var i = 0u; i < SAMPLES; i++) {
        var count = 0u;
        for (var j = 0u; j < SAMPLES; j++) {
            count += select(0u, 1u, labels[j] == labels[i]);
        }
        if count > best_count || (count == best_count && zs[i] > zs[best]) {
            best = i;
            best_count = count;
        }
    }
    var z_sum = 0.0;
    for (var i = 0u; i < SAMPLES; i++) {
        z_sum += select(0.0, zs[i], labels[i] == labels[best]);
    }
    let z = z_sum / f32(best_count);
    let depth = select(dp.y / (z + dp.x), bitcast<f32>(0x7f800000u), z <= 0.0);

    let index = (image * params.tile_height + y) * params.tile_width + x;
    out_pixels[index * 3u] = pack4x8unorm(vec4<f32>(linear_to_srgb(color), 1.0));
    out_pixels[index * 3u + 1u] = labels[best];
    out_pixels[index * 3u + 2u] = bitcast<u32>(depth);
}
