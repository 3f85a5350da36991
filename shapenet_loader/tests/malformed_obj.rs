//! A corpus of malformed and unusual OBJ files: each either loads into a valid, normalised mesh
//! or returns a typed error naming the file; nothing panics. Plus a deterministic mutation fuzz.

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shapenet_loader::obj::{load_obj_bytes, load_obj_file};
use shapenet_loader::{Layout, Mesh, ModelError};

const CUBE: &str = "\
# a unit cube with uvs and normals, quads
mtllib cube.mtl
o cube
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 -1
vn 0 0 1
vn 0 -1 0
vn 1 0 0
vn 0 1 0
vn -1 0 0
usemtl wood
f 1/1/1 4/4/1 3/3/1 2/2/1
f 5/1/2 6/2/2 7/3/2 8/4/2
g sides
f 1/1/3 2/2/3 6/3/3 5/4/3
f 2/1/4 3/2/4 7/3/4 6/4/4
f 3/1/5 4/2/5 8/3/5 7/4/5
f 4/1/6 1/2/6 5/3/6 8/4/6
";

const TRI: &str = "v 0 0 0\nv 1 0 0\nv 0 1 0\n";

fn load(text: &str) -> Result<Mesh, ModelError> {
    load_obj_bytes(
        text.as_bytes(),
        Path::new("corpus/model.obj"),
        Layout::V2,
        5000,
    )
}

fn ok(text: &str) -> Mesh {
    let m = load(text).unwrap_or_else(|e| panic!("expected to load, got {e}\n{text}"));
    check_valid(&m);
    m
}

fn check_valid(m: &Mesh) {
    m.validate().unwrap();
    let (lo, hi) = m.bounds().unwrap();
    let ext = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f32::max);
    assert!((ext - 0.7).abs() < 1e-5, "largest side {ext}");
    for n in &m.normals {
        let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        assert!((l - 1.0).abs() < 1e-3, "normal {n:?}");
    }
}

fn err(text: &str, reason: &str) {
    match load(text) {
        Ok(_) => panic!("expected {reason}, loaded:\n{text}"),
        Err(e) => {
            assert_eq!(e.reason(), reason, "{e}\n{text}");
            let msg = e.to_string();
            assert!(
                msg.contains("corpus/model.obj"),
                "error must name the file: {msg}"
            );
            assert!(!msg.contains("panicked"), "{msg}");
        }
    }
}

#[test]
fn the_reference_cube_loads_with_its_normals() {
    let m = ok(CUBE);
    assert_eq!(m.triangle_count(), 12);
    // file normals are kept (rotated into our frame): all axis-aligned
    for n in &m.normals {
        assert_eq!(n.iter().filter(|c| c.abs() == 1.0).count(), 1, "{n:?}");
    }
}

#[test]
fn empty_and_faceless_files() {
    err("", "no_faces");
    err("\n\n   \n# only a comment\n", "no_faces");
    err(TRI, "no_faces");
    err(&format!("{TRI}l 1 2\np 3\n"), "no_faces");
    err(&format!("{TRI}f 1 2\n"), "no_faces");
}

#[test]
fn binary_garbage() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..50 {
        let n = rng.random_range(1..4000);
        let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        match load_obj_bytes(&bytes, Path::new("corpus/model.obj"), Layout::V2, 5000) {
            Ok(m) => check_valid(&m),
            Err(e) => assert!(!e.to_string().contains("panicked"), "{e}"),
        }
    }
    // a PNG header and NULs
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
    assert!(load_obj_bytes(png, Path::new("x.obj"), Layout::V2, 10).is_err());
}

#[test]
fn relative_and_out_of_range_indices() {
    let m = ok(&format!("{TRI}f -3 -2 -1\n"));
    assert_eq!(m.triangle_count(), 1);
    err(&format!("{TRI}f -4 -2 -1\n"), "index_out_of_range");
    err(&format!("{TRI}f 1 2 4\n"), "index_out_of_range");
    err(&format!("{TRI}f 0 1 2\n"), "index_out_of_range");
    err(&format!("{TRI}f 1 2 3000000000\n"), "index_out_of_range");
    err(
        &format!("{TRI}f 1 2 -9223372036854775808\n"),
        "index_out_of_range",
    );
    err(
        &format!("{TRI}f 1/9223372036854775807 2 3\n"),
        "index_out_of_range",
    );
    err(
        &format!("{TRI}vn 0 0 1\nf 1//2 2//1 3//1\n"),
        "index_out_of_range",
    );
    err(&format!("{TRI}f 1/1 2/2 3/3\n"), "index_out_of_range"); // uv indices, no vt lines
    // a face may only use vertices defined before it
    err("v 0 0 0\nv 1 0 0\nf 1 2 3\nv 0 1 0\n", "index_out_of_range");
    err(&format!("{TRI}f 1 2 99999999999999999999999\n"), "parse");
    err(&format!("{TRI}f 1/1/1/1 2 3\n"), "parse");
    err(&format!("{TRI}f 1 2 x\n"), "parse");
}

#[test]
fn missing_normals_and_uvs_are_fine() {
    let plain = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n\
                 f 1 4 3 2\nf 5 6 7 8\nf 1 2 6 5\nf 2 3 7 6\nf 3 4 8 7\nf 4 1 5 8\n";
    let m = ok(plain);
    assert_eq!(m.triangle_count(), 12);
    // computed normals: flat faces of the cube, pointing away from its centre
    for (p, n) in m.positions.iter().zip(&m.normals) {
        let d: f32 = (0..3).map(|k| p[k] * n[k]).sum();
        assert!(d > 0.0, "{p:?} {n:?}");
    }
    // uvs without normals
    ok(&format!("{TRI}vt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"));
    // normals on some faces only: computed for all
    let mixed = format!("{TRI}v 1 1 0\nvn 0 0 1\nf 1//1 2//1 3//1\nf 2 4 3\n");
    assert_eq!(ok(&mixed).triangle_count(), 2);
    // a NaN or zero normal falls back to computed normals
    ok(&format!("{TRI}vn nan 0 1\nf 1//1 2//1 3//1\n"));
    ok(&format!("{TRI}vn 0 0 0\nf 1//1 2//1 3//1\n"));
}

#[test]
fn non_finite_coordinates() {
    err("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non_finite");
    err("v 0 0 inf\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non_finite");
    err("v 0 0 -inf\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non_finite");
    err("v 0 0 1e39\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "non_finite");
    // a NaN vertex no face uses is ignored
    ok(&format!("{TRI}v nan nan nan\nf 1 2 3\n"));
    // huge but finite coordinates are fine
    ok("v 0 0 1e30\nv 1e30 0 0\nv 0 -1e30 0\nf 1 2 3\n");
}

#[test]
fn crlf_equals_lf() {
    let lf = ok(CUBE);
    let crlf = ok(&CUBE.replace('\n', "\r\n"));
    assert_eq!(lf, crlf);
    // trailing whitespace, tabs, no final newline
    let messy = CUBE.replace(' ', " \t ").trim_end().to_string();
    assert_eq!(ok(&messy), lf);
}

#[test]
fn quads_and_ngons_are_triangulated() {
    let quad = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n";
    assert_eq!(ok(quad).triangle_count(), 2);
    let mut hexagon = String::new();
    for k in 0..6 {
        let a = std::f32::consts::TAU * k as f32 / 6.0;
        hexagon.push_str(&format!("v {} 0 {}\n", a.cos(), a.sin()));
    }
    hexagon.push_str("f 1 2 3 4 5 6\n");
    assert_eq!(ok(&hexagon).triangle_count(), 4);
    let pentagon = "v 0 0 0\nv 2 0 0\nv 2 1 0\nv 1 2 0\nv 0 1 0\nf 1 2 3 4 5\n";
    assert_eq!(ok(pentagon).triangle_count(), 3);
}

#[test]
fn materials_are_ignored() {
    // mtllib pointing nowhere, outside the tree, or to a directory; usemtl of unknown names
    for lib in ["missing.mtl", "../../../etc/passwd", "/", "", "a b c.mtl"] {
        let text = format!("mtllib {lib}\nusemtl nothing\n{TRI}f 1 2 3\n");
        assert_eq!(ok(&text).triangle_count(), 1, "{lib}");
    }
}

#[test]
fn groups_and_objects_are_merged() {
    let text = "o a\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n\
                o b\nv 0 0 1\nv 1 0 1\nv 0 1 1\nf 4 5 6\n\
                g c\ns 1\nf -3 -1 -2\n";
    let m = ok(text);
    assert_eq!(m.triangle_count(), 3);
}

#[test]
fn odd_but_valid_lines() {
    // vertex colours, w coordinate, unknown statements, latin-1 bytes in a comment
    ok("v 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 0 1 0 0 0 1\nf 1 2 3\n");
    ok("v 0 0 0 1\nv 1 0 0 1\nv 0 1 0 1\nf 1 2 3\n");
    ok(&format!("{TRI}curv 0 1\nvp 0.5\nf 1 2 3\n"));
    let mut bytes = b"# caf\xe9\n".to_vec();
    bytes.extend_from_slice(format!("{TRI}f 1 2 3\n").as_bytes());
    load_obj_bytes(&bytes, Path::new("x.obj"), Layout::V2, 10).unwrap();
}

#[test]
fn bad_numbers_and_truncation() {
    err("v 0 0 x\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "parse");
    err("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "parse");
    // truncated in the middle of the faces: the complete faces load
    let cut = &CUBE[..CUBE.find("g sides").unwrap()];
    assert_eq!(ok(cut).triangle_count(), 4);
    // all vertices at one point
    err("v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "degenerate");
    // collinear vertices
    err("v 0 0 0\nv 1 1 1\nv 2 2 2\nf 1 2 3\n", "degenerate");
}

#[test]
fn unreadable_files_are_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_obj_file(&dir.path().join("absent.obj"), Layout::V1, 100).unwrap_err();
    assert_eq!(e.reason(), "io");
    assert!(e.to_string().contains("absent.obj"));
    let e = load_obj_file(dir.path(), Layout::V1, 100).unwrap_err();
    assert_eq!(e.reason(), "io");
}

/// Deterministic mutation fuzz over the cube: byte flips, token substitutions, line edits.
#[test]
fn mutation_fuzz_never_panics() {
    const TOKENS: [&str; 18] = [
        "-1",
        "0",
        "999",
        "nan",
        "inf",
        "-99999999999",
        "1e39",
        "/",
        "//",
        "f",
        "v",
        "vn",
        "",
        "\r",
        "\0",
        "1/2/3/4",
        "-0",
        "+1",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let lines: Vec<&str> = CUBE.lines().collect();
    let (mut loaded, mut failed) = (0, 0);
    for _ in 0..3000 {
        let mut text: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..text.len());
            match rng.random_range(0..4) {
                0 => {
                    let words: Vec<String> = text[i].split(' ').map(|w| w.to_string()).collect();
                    let j = rng.random_range(0..words.len());
                    let mut words = words;
                    words[j] = TOKENS[rng.random_range(0..TOKENS.len())].to_string();
                    text[i] = words.join(" ");
                }
                1 => {
                    text.remove(i);
                    if text.is_empty() {
                        text.push(String::new());
                    }
                }
                2 => {
                    let dup = text[i].clone();
                    text.insert(rng.random_range(0..text.len()), dup);
                }
                _ => {
                    let mut b = text[i].clone().into_bytes();
                    if !b.is_empty() {
                        let k = rng.random_range(0..b.len());
                        b[k] = rng.random();
                    }
                    text[i] = String::from_utf8_lossy(&b).into_owned();
                }
            }
        }
        let joined = text.join("\n");
        match load_obj_bytes(joined.as_bytes(), Path::new("fuzz.obj"), Layout::V2, 8) {
            Ok(m) => {
                check_valid(&m);
                assert!(m.triangle_count() <= 12);
                loaded += 1;
            }
            Err(e) => {
                assert!(!e.to_string().contains("panicked"), "{e}\n{joined}");
                failed += 1;
            }
        }
    }
    assert!(
        loaded > 300 && failed > 300,
        "loaded {loaded}, failed {failed}"
    );
}
