// Scene pass: draws the objects and the background plane of every image of a batch into the
// tiles of a (multisampled) atlas. Per-draw data comes from a uniform buffer bound at a dynamic
// offset (uniform across the draw, so software rasterizers load it once, not per pixel).
// Outputs: linear colour (stored sRGB-encoded) and class+instance ids; depth comes from the
// depth buffer (reversed z), converted to camera-space z by the resolve pass.
//
// TEXTURE_MODE selects the pipeline variant (branches are not free on SIMD CPU rasterizers):
// 0 = flat colour, 1 = cube projection in object space (objects), 2 = planar (background).

override TEXTURE_MODE: u32 = 0u;

struct Draw {
    mvp: mat4x4<f32>,
    model: mat4x4<f32>,
    n0: vec4<f32>,
    n1: vec4<f32>,
    n2: vec4<f32>,
    eye: vec4<f32>,
    light_pos: vec4<f32>,   // w: fill strength
    light_color: vec4<f32>, // rgb: intensity * reference distance^2
    color: vec4<f32>,       // rgb: linear base colour, w: texture mix
    params: vec4<f32>,      // x: texture scale, y: specular, z: background mip level
    ids: vec4<u32>,         // x: class, y: instance, z: texture layer, w: kind
};

@group(0) @binding(0) var textures: texture_2d_array<f32>;
@group(0) @binding(1) var tex_sampler: sampler;
@group(1) @binding(0) var<uniform> d: Draw;

struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) obj_pos: vec3<f32>,
    @location(1) obj_normal: vec3<f32>,
};

@vertex
fn vs_main(@location(0) position: vec3<f32>, @location(1) normal: vec3<f32>) -> VsOut {
    var out: VsOut;
    out.clip = d.mvp * vec4<f32>(position, 1.0);
    out.obj_pos = position;
    out.obj_normal = normal;
    return out;
}

struct FsOut {
    @location(0) color: vec4<f32>,
    @location(1) labels: vec2<u32>,
};

@fragment
fn fs_main(in: VsOut) -> FsOut {
    let world = (d.model * vec4<f32>(in.obj_pos, 1.0)).xyz;
    let face = cross(dpdx(world), dpdy(world));

    var n = d.n0.xyz * in.obj_normal.x + d.n1.xyz * in.obj_normal.y + d.n2.xyz * in.obj_normal.z;
    // Degenerate vertex normal: fall back to the flat face normal.
    n = select(n, face, dot(n, n) < 1e-12);
    n = normalize(n);
    let v = normalize(d.eye.xyz - world);
    // Two-sided lighting: real meshes have inverted normals and open surfaces.
    n = select(n, -n, dot(n, v) < 0.0);

    var base = d.color.rgb;
    if TEXTURE_MODE == 1u {
        // Cube ("box") projection in object space: the axis the object-space normal is closest
        // to picks the plane; trilinear filtering with the analytic screen-space gradients.
        let tex_p = in.obj_pos * d.params.x;
        let dpx = dpdx(tex_p);
        let dpy = dpdy(tex_p);
        let an = abs(in.obj_normal);
        let use_x = an.x >= an.y && an.x >= an.z;
        let use_y = !use_x && an.y >= an.z;
        let uv = select(select(tex_p.xy, tex_p.xz, use_y), tex_p.yz, use_x);
        let gx = select(select(dpx.xy, dpx.xz, use_y), dpx.yz, use_x);
        let gy = select(select(dpy.xy, dpy.xz, use_y), dpy.yz, use_x);
        let tex = textureSampleGrad(textures, tex_sampler, uv, d.ids.z, gx, gy).rgb;
        base = mix(base, tex, d.color.w);
    } else if TEXTURE_MODE == 2u {
        // Background plane: it faces the camera, so its texel footprint is the same at every
        // pixel; the renderer passes that mip level (params.z), sampled bilinearly.
        let uv = in.obj_pos.xy * d.params.x;
        let tex = textureSampleLevel(textures, tex_sampler, uv, d.ids.z, d.params.z).rgb;
        base = mix(base, tex, d.color.w);
    }

    let to_light = d.light_pos.xyz - world;
    let dist2 = max(dot(to_light, to_light), 1e-4);
    let l = to_light * inverseSqrt(dist2);
    let radiance = d.light_color.rgb / dist2;
    let ndl = max(dot(n, l), 0.0);
    let h = normalize(l + v);
    // Blinn-Phong exponent 32 by repeated squaring (pow is slow on CPU rasterizers).
    var s = max(dot(n, h), 0.0);
    s = s * s;
    s = s * s;
    s = s * s;
    s = s * s;
    s = s * s;
    let spec = d.params.y * s * min(ndl * 4.0, 1.0);
    // Fill: a soft sky-like ambient, a little brighter on upward-facing surfaces.
    let fill = d.light_pos.w * (0.8 + 0.2 * n.z);
    let rgb = base * (radiance * ndl + vec3<f32>(fill)) + radiance * spec;

    var out: FsOut;
    out.color = vec4<f32>(rgb, 1.0);
    out.labels = d.ids.xy;
    return out;
}
