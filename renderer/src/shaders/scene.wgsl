// Scene pass: draws the objects and the background plane of every image of a batch into the
// tiles of a (multisampled) atlas. Per-draw data comes from a uniform buffer bound at a dynamic
// offset (uniform across the draw, so software rasterizers load it once, not per pixel).
// Outputs: linear colour (stored sRGB-encoded) and class+instance ids; depth comes from the
// depth buffer (reversed z), converted to camera-space z by the resolve pass.
//
// TEXTURE_MODE selects the pipeline variant (branches are not free on SIMD CPU rasterizers):
// 0 = flat colour, 1 = cube projection in object space (objects), 2 = planar (background).
// SHADOWS = 1 shades with the image's shadow map (cast and self shadows of the point light,
// PCF-filtered) and the hemisphere ambient; 0 is the shadowless shading of earlier versions,
// byte for byte.
//
// vs_shadow is the vertex stage of the shadow pass (depth only, no fragment stage): it draws
// the objects of one image from the point light into that image's layer of the shadow maps.

override TEXTURE_MODE: u32 = 0u;
override SHADOWS: u32 = 0u;
// Bilinear shadow-map comparisons per shaded sample: 4 (MSAA, one shading per pixel) or 1
// (supersampling, where the pixel's own 2x2 or more samples average several lookups).
override PCF_TAPS: u32 = 4u;

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
    params: vec4<f32>,      // x: texture scale, y: specular, z: background mip level,
                            // w: object's position in the scene (coverage pass)
    ids: vec4<u32>,         // x: class, y: instance, z: texture layer, w: kind
    light_vp: mat4x4<f32>,  // world -> shadow-map clip space
    shadow: vec4<f32>,      // x: has shadow map, y: normal offset (m), z: PCF spacing (uv),
                            // w: shadow-map layer
};

@group(0) @binding(0) var textures: texture_2d_array<f32>;
@group(0) @binding(1) var tex_sampler: sampler;
@group(0) @binding(2) var shadow_maps: texture_depth_2d_array;
@group(0) @binding(3) var shadow_sampler: sampler_comparison;
@group(1) @binding(0) var<uniform> d: Draw;

// Coverage pass (objects 0..3 of an image, no depth test, max blending): marks every sample
// an object covers in channel params.w (its position in the scene), whatever hides it.
@vertex
fn vs_coverage(@location(0) position: vec3<f32>) -> @builtin(position) vec4<f32> {
    return d.mvp * vec4<f32>(position, 1.0);
}

@fragment
fn fs_coverage() -> @location(0) vec4<f32> {
    let k = u32(d.params.w);
    return vec4<f32>(vec4<u32>(k) == vec4<u32>(0u, 1u, 2u, 3u));
}

@vertex
fn vs_shadow(@location(0) position: vec3<f32>) -> @builtin(position) vec4<f32> {
    return d.light_vp * (d.model * vec4<f32>(position, 1.0));
}

// Fraction of the point light reaching `world` (1 = lit): PCF_TAPS bilinear depth comparisons
// (each a 2x2 PCF); with 4, on a rotated grid around the lookup, a soft ~4-texel penumbra. The
// lookup point is pushed along the normal by about a texel against self-shadowing acne.
// Outside the shadow map's frustum nothing casts a shadow (it encloses every object).
fn light_visibility(world: vec3<f32>, n: vec3<f32>) -> f32 {
    let p = d.light_vp * vec4<f32>(world + n * d.shadow.y, 1.0);
    if d.shadow.x == 0.0 || p.w <= 0.0 {
        return 1.0;
    }
    let ndc = p.xyz / p.w;
    if any(abs(ndc.xy) >= vec2<f32>(1.0)) {
        return 1.0;
    }
    // Receivers beyond the far plane (the background) are behind every caster: compare at 1,
    // which only the cleared (caster-free) texels pass.
    let depth = min(ndc.z, 1.0);
    let uv = vec2<f32>(0.5 + 0.5 * ndc.x, 0.5 - 0.5 * ndc.y);
    let layer = i32(d.shadow.w);
    let s = d.shadow.z;
    if PCF_TAPS == 1u {
        return textureSampleCompareLevel(shadow_maps, shadow_sampler, uv, layer, depth);
    }
    var lit = textureSampleCompareLevel(shadow_maps, shadow_sampler, uv + vec2<f32>(-1.5, -0.5) * s, layer, depth);
    lit += textureSampleCompareLevel(shadow_maps, shadow_sampler, uv + vec2<f32>(0.5, -1.5) * s, layer, depth);
    lit += textureSampleCompareLevel(shadow_maps, shadow_sampler, uv + vec2<f32>(1.5, 0.5) * s, layer, depth);
    lit += textureSampleCompareLevel(shadow_maps, shadow_sampler, uv + vec2<f32>(-0.5, 1.5) * s, layer, depth);
    return 0.25 * lit;
}

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
    var rgb: vec3<f32>;
    if SHADOWS == 1u {
        // Only surfaces facing the light can be in its shadow.
        var vis = 0.0;
        if ndl > 0.0 {
            vis = light_visibility(world, n);
        }
        // Hemisphere ambient (sky above, darker ground bounce below), a little darker where the
        // light is blocked: a cheap stand-in for ambient occlusion under seats, in creases and
        // in the contact shadows between objects. The fill itself casts no shadow.
        // (Faded out towards the terminator, where the lookup says little.)
        let occlusion = 0.2 * (1.0 - vis) * min(ndl * 5.0, 1.0);
        let fill = d.light_pos.w * (0.72 + 0.28 * n.z) * (1.0 - occlusion);
        rgb = base * (radiance * (ndl * vis) + vec3<f32>(fill)) + radiance * (spec * vis);
    } else {
        // Fill: a soft sky-like ambient, a little brighter on upward-facing surfaces.
        let fill = d.light_pos.w * (0.8 + 0.2 * n.z);
        rgb = base * (radiance * ndl + vec3<f32>(fill)) + radiance * spec;
    }

    var out: FsOut;
    out.color = vec4<f32>(rgb, 1.0);
    out.labels = d.ids.xy;
    return out;
}
