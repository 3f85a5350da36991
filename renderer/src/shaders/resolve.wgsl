// Resolve pass (main logic): turns one image's render targets into its output records in the
// batch's output buffer, image-major (one dispatch per image). It is compiled after one of the fetch snippets (`resolve_fetch_msaa.wgsl` or
// `resolve_fetch_ssaa.wgsl`), which provide SAMPLES, the bindings 0-2 and
// load_color / load_depth / load_labels(pixel, sample).
//
// Colour: mean of the samples in linear light, encoded to sRGB8. Labels: the (class, instance)
// pair held by most samples, ties to the nearest sample: never a blend. Depth: the mean
// depth-buffer value (reversed z, affine in screen space) of the samples carrying that label,
// converted to camera-space z, so a plane covering the pixel gets exactly its pixel-centre depth;
// +inf where nothing was drawn.
// Output per pixel: 3 words = packed RGBA8 sRGB, class | instance << 8, f32 depth bits.
//
// With COVERAGE = 1 it also counts, per image, the pixels each of the first four objects would
// get in the label maps if no other object hid it: the coverage pass marks every sample an
// object covers (channel k = object k, depth ignored), and a pixel counts for object k when the
// object alone would win the label vote there (at least half of the samples: ties go to the
// nearer sample, and the object is nearer than the background).

override COVERAGE: u32 = 0u;

struct ResolveParams {
    width: u32,
    height: u32,
    image: u32, // slot of this image in the batch
    pad: u32,
};

@group(0) @binding(3) var<storage, read_write> out_pixels: array<u32>;
@group(0) @binding(4) var<uniform> params: ResolveParams; // per image (dynamic offset)
// Per image: (a, b) with view depth = b / (ndc_z + a).
@group(0) @binding(5) var<storage, read> depth_params: array<vec2<f32>>;
// Per image: unoccluded pixel counts of objects 0..3.
@group(0) @binding(7) var<storage, read_write> coverage_counts: array<atomic<u32>>;

var<workgroup> wg_counts: array<atomic<u32>, 4>;

// Adds this workgroup's unoccluded pixels per object to the image's counts (COVERAGE = 1).
// Called by every invocation of the workgroup (it holds barriers).
fn count_coverage(image: u32, pixel: vec2<u32>, inside: bool, local: u32) {
    if COVERAGE == 0u {
        return;
    }
    if local < 4u {
        atomicStore(&wg_counts[local], 0u);
    }
    workgroupBarrier();
    if inside {
        var c = vec4<f32>(0.0);
        for (var s = 0u; s < SAMPLES; s++) {
            c += load_coverage(pixel, s);
        }
        let half = 0.5 * f32(SAMPLES);
        for (var k = 0u; k < 4u; k++) {
            if c[k] > 0.0 && c[k] >= half {
                atomicAdd(&wg_counts[k], 1u);
            }
        }
    }
    workgroupBarrier();
    if local < 4u {
        let n = atomicLoad(&wg_counts[local]);
        if n > 0u {
            atomicAdd(&coverage_counts[image * 4u + local], n);
        }
    }
}

fn linear_to_srgb(c: vec3<f32>) -> vec3<f32> {
    let x = clamp(c, vec3<f32>(0.0), vec3<f32>(1.0));
    let lo = x * 12.92;
    let hi = 1.055 * pow(x, vec3<f32>(1.0 / 2.4)) - vec3<f32>(0.055);
    return select(hi, lo, x <= vec3<f32>(0.0031308));
}

// Writes the output record of pixel (x, y) of `image`: `color` (linear) as sRGB8, the `label`
// word, and `z` (mean reversed-z of the samples carrying the label) as camera-space depth,
// +inf where nothing was drawn (z <= 0).
fn store_pixel(image: u32, x: u32, y: u32, color: vec3<f32>, label: u32, z: f32) {
    let dp = depth_params[image];
    let depth = select(dp.y / (z + dp.x), bitcast<f32>(0x7f800000u), z <= 0.0);
    let index = (image * params.height + y) * params.width + x;
    out_pixels[index * 3u] = pack4x8unorm(vec4<f32>(linear_to_srgb(color), 1.0));
    out_pixels[index * 3u + 1u] = label;
    out_pixels[index * 3u + 2u] = bitcast<u32>(depth);
}

@compute @workgroup_size(8, 8, 1)
fn resolve(@builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) local: u32) {
    let inside = gid.x < params.width && gid.y < params.height;
    if inside {
        resolve_pixel(params.image, gid.x, gid.y);
    }
    count_coverage(params.image, gid.xy, inside, local);
}

fn resolve_pixel(image: u32, x: u32, y: u32) {
    let pixel = vec2<u32>(x, y);

    var color = vec3<f32>(0.0);
    var labels: array<u32, 16>;
    var zs: array<f32, 16>;
    for (var s = 0u; s < SAMPLES; s++) {
        color += load_color(pixel, s);
        let l = load_labels(pixel, s);
        labels[s] = l.x | (l.y << 8u);
        zs[s] = load_depth(pixel, s);
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
    store_pixel(image, x, y, color, labels[best], z_sum / f32(best_count));
}

// Same result as `resolve` for exactly 4 samples, written without local arrays (dynamically
// indexed arrays live in memory on SIMD CPU drivers such as lavapipe, which makes `resolve`
// several times slower there). Used whenever SAMPLES is 4 (4x MSAA, 2x2 supersampling).
@compute @workgroup_size(8, 8, 1)
fn resolve4(@builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) local: u32) {
    let inside = gid.x < params.width && gid.y < params.height;
    if inside {
        resolve4_pixel(params.image, gid.x, gid.y);
    }
    count_coverage(params.image, gid.xy, inside, local);
}

fn resolve4_pixel(image: u32, x: u32, y: u32) {
    let pixel = vec2<u32>(x, y);

    let color = 0.25 * (load_color(pixel, 0u) + load_color(pixel, 1u)
        + load_color(pixel, 2u) + load_color(pixel, 3u));
    let l0 = load_labels(pixel, 0u);
    let l1 = load_labels(pixel, 1u);
    let l2 = load_labels(pixel, 2u);
    let l3 = load_labels(pixel, 3u);
    let labels = vec4<u32>(l0.x | (l0.y << 8u), l1.x | (l1.y << 8u), l2.x | (l2.y << 8u),
        l3.x | (l3.y << 8u));
    let zs = vec4<f32>(load_depth(pixel, 0u), load_depth(pixel, 1u),
        load_depth(pixel, 2u), load_depth(pixel, 3u));

    // How many samples share each sample's label.
    let one = vec4<u32>(1u);
    let zero = vec4<u32>(0u);
    let c = vec4<u32>(
        dot(select(zero, one, labels == vec4<u32>(labels.x)), one),
        dot(select(zero, one, labels == vec4<u32>(labels.y)), one),
        dot(select(zero, one, labels == vec4<u32>(labels.z)), one),
        dot(select(zero, one, labels == vec4<u32>(labels.w)), one),
    );
    // Majority; ties go to the nearest sample (largest reversed z), then the lowest index.
    var best_label = labels.x;
    var best_count = c.x;
    var best_z = zs.x;
    if c.y > best_count || (c.y == best_count && zs.y > best_z) {
        best_label = labels.y;
        best_count = c.y;
        best_z = zs.y;
    }
    if c.z > best_count || (c.z == best_count && zs.z > best_z) {
        best_label = labels.z;
        best_count = c.z;
        best_z = zs.z;
    }
    if c.w > best_count || (c.w == best_count && zs.w > best_z) {
        best_label = labels.w;
        best_count = c.w;
        best_z = zs.w;
    }
    let mask = select(vec4<f32>(0.0), vec4<f32>(1.0), labels == vec4<u32>(best_label));
    store_pixel(image, x, y, color, best_label, dot(zs, mask) / f32(best_count));
}
