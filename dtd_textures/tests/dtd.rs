//! Reading a DTD directory written on the fly with the `image` crate: layout detection, sorted
//! names, skipped corrupt files, centre cropping, errors naming paths, fingerprints.

use std::fs;
use std::path::Path;

use dtd_textures::{
    Dtd, DtdError, DtdOptions, Split, TextureError, TextureSource, Verify, open_source,
};
use image::{Rgb, RgbImage};

/// A `w x h` image whose left and right quarters are red and centre half green.
fn three_band(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        if x < w / 4 || x >= w - w / 4 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 200, 40])
        }
    })
}

fn gradient(w: u32, h: u32, k: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, k])
    })
}

/// images/{banded,dotted,striped}/... with one corrupt JPEG and a stray text file.
fn write_dtd(root: &Path) {
    let images = root.join("images");
    for cat in ["banded", "dotted", "striped"] {
        fs::create_dir_all(images.join(cat)).unwrap();
    }
    fs::create_dir_all(root.join("labels")).unwrap();
    fs::write(root.join("labels/train1.txt"), "banded/banded_0001.jpg\n").unwrap();
    gradient(40, 30, 10)
        .save(images.join("banded/banded_0002.jpg"))
        .unwrap();
    gradient(30, 30, 90)
        .save(images.join("banded/banded_0001.jpg"))
        .unwrap();
    three_band(64, 16)
        .save(images.join("dotted/wide.png"))
        .unwrap();
    gradient(20, 50, 200)
        .save(images.join("striped/striped_0001.jpg"))
        .unwrap();
    fs::write(
        images.join("striped/striped_0002.jpg"),
        b"this is not a jpeg at all",
    )
    .unwrap();
    fs::write(images.join("striped/notes.txt"), b"ignored").unwrap();
}

#[test]
fn opens_lists_sorted_and_skips_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    write_dtd(dir.path());
    let dtd = Dtd::open(dir.path()).unwrap();
    assert_eq!(dtd.kind(), "dtd");
    let names: Vec<String> = (0..dtd.len()).map(|i| dtd.name(i)).collect();
    assert_eq!(
        names,
        [
            "banded/banded_0001.jpg",
            "banded/banded_0002.jpg",
            "dotted/wide.png",
            "striped/striped_0001.jpg"
        ]
    );
    assert_eq!(dtd.categories(), ["banded", "dotted", "striped"]);
    assert_eq!(dtd.category(2), "dotted");
    let skipped = dtd.skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].name, "striped/striped_0002.jpg");
    assert_eq!(skipped[0].reason, "decode");
    assert!(
        skipped[0].message.contains("striped_0002.jpg"),
        "{}",
        skipped[0].message
    );
    assert!(dtd.images_dir().ends_with("images"));
}

#[test]
fn loads_square_tiles_centre_cropped() {
    let dir = tempfile::tempdir().unwrap();
    write_dtd(dir.path());
    let dtd = Dtd::open(dir.path()).unwrap();
    for i in 0..dtd.len() {
        for size in [8, 16, 37] {
            let t = dtd.load(i, size).unwrap();
            assert_eq!(t.size, size);
            assert_eq!(t.rgba.len(), (size * size * 4) as usize);
            assert!(t.rgba.chunks_exact(4).all(|p| p[3] == 255));
        }
    }
    // 64x16 red|green|red: the centre 16x16 crop is all green.
    let t = dtd.load(2, 16).unwrap();
    for y in 0..16 {
        for x in 0..16 {
            let p = t.pixel(x, y);
            assert!(
                p[1] > 150 && p[0] < 70,
                "pixel ({x},{y}) = {p:?} is not the green centre"
            );
        }
    }
    // Loading is deterministic.
    assert_eq!(dtd.load(0, 24).unwrap(), dtd.load(0, 24).unwrap());
    assert!(matches!(
        dtd.load(4, 16),
        Err(TextureError::IndexOutOfRange {
            index: 4,
            len: 4,
            ..
        })
    ));
    assert!(matches!(
        dtd.load(0, 0),
        Err(TextureError::InvalidSize { .. })
    ));
}

#[test]
fn accepts_the_images_directory_itself() {
    let dir = tempfile::tempdir().unwrap();
    write_dtd(dir.path());
    let a = Dtd::open(dir.path()).unwrap();
    let b = Dtd::open(&dir.path().join("images")).unwrap();
    assert_eq!(a.len(), b.len());
    assert_eq!(a.fingerprint(), b.fingerprint());
    assert_eq!(a.name(3), b.name(3));
}

#[test]
fn missing_empty_and_unreadable_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no_such_dtd");
    let err = Dtd::open(&missing).unwrap_err();
    assert!(matches!(err, DtdError::NotFound { .. }));
    assert!(err.to_string().contains("no_such_dtd"), "{err}");

    let empty = dir.path().join("empty");
    fs::create_dir_all(empty.join("images/banded")).unwrap();
    let err = Dtd::open(&empty).unwrap_err();
    assert!(matches!(err, DtdError::NoImages { .. }), "{err:?}");
    assert!(
        err.to_string().contains("empty") && err.to_string().contains("images/"),
        "{err}"
    );

    let file = dir.path().join("a_file");
    fs::write(&file, b"x").unwrap();
    assert!(matches!(
        Dtd::open(&file),
        Err(DtdError::NotADirectory { .. })
    ));

    let broken = dir.path().join("broken");
    fs::create_dir_all(broken.join("images/cracked")).unwrap();
    fs::write(broken.join("images/cracked/a.jpg"), b"").unwrap();
    fs::write(broken.join("images/cracked/b.png"), b"\x89PNG garbage").unwrap();
    let err = Dtd::open(&broken).unwrap_err();
    match &err {
        DtdError::AllUnreadable { count, first, .. } => {
            assert_eq!(*count, 2);
            assert!(first.contains("a.jpg"), "{first}");
        }
        other => panic!("expected AllUnreadable, got {other:?}"),
    }
    assert!(open_source(Some(&missing), 10).is_err());
}

#[test]
fn truncated_image_fails_at_load_naming_the_file_or_is_skipped_by_full_verification() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("images/woven");
    fs::create_dir_all(&cat).unwrap();
    gradient(32, 32, 5).save(cat.join("good.png")).unwrap();
    let mut bytes = Vec::new();
    gradient(64, 64, 77)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    fs::write(cat.join("truncated.png"), &bytes[..bytes.len() / 2]).unwrap();

    // The header is intact, so the cheap check keeps it; decoding names the file.
    let dtd = Dtd::open(dir.path()).unwrap();
    assert_eq!(dtd.len(), 2);
    let err = dtd.load(1, 16).unwrap_err();
    assert_eq!(err.reason(), "decode");
    assert!(err.to_string().contains("truncated.png"), "{err}");
    assert!(err.path().unwrap().ends_with("truncated.png"));

    let full = Dtd::open_with(
        dir.path(),
        DtdOptions {
            verify: Verify::Decode,
        },
    )
    .unwrap();
    assert_eq!(full.len(), 1);
    assert_eq!(full.skipped()[0].name, "woven/truncated.png");
    assert_ne!(full.fingerprint(), dtd.fingerprint());

    let none = Dtd::open_with(
        dir.path(),
        DtdOptions {
            verify: Verify::None,
        },
    )
    .unwrap();
    assert_eq!(none.len(), 2);
}

#[test]
fn fingerprint_tracks_names_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    write_dtd(dir.path());
    let a = Dtd::open(dir.path()).unwrap().fingerprint();
    assert_eq!(a, Dtd::open(dir.path()).unwrap().fingerprint());
    assert_eq!(a.len(), 16);
    gradient(50, 50, 1)
        .save(dir.path().join("images/dotted/extra.png"))
        .unwrap();
    let b = Dtd::open(dir.path()).unwrap().fingerprint();
    assert_ne!(a, b);
    gradient(51, 50, 1)
        .save(dir.path().join("images/dotted/extra.png"))
        .unwrap();
    let c = Dtd::open(dir.path()).unwrap().fingerprint();
    assert_ne!(b, c);
}

#[test]
fn split_is_by_name_and_open_source_picks_dtd() {
    let dir = tempfile::tempdir().unwrap();
    write_dtd(dir.path());
    let src = open_source(Some(dir.path()), 10).unwrap();
    assert_eq!(src.kind(), "dtd");
    for i in 0..src.len() {
        assert_eq!(src.split(i), Split::of_name(&src.name(i)));
    }
    assert_eq!(open_source(None, 10).unwrap().kind(), "procedural");
}

#[test]
fn greyscale_16_bit_and_upper_case_extensions_load() {
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("images/porous");
    fs::create_dir_all(&cat).unwrap();
    image::GrayImage::from_fn(24, 24, |x, _| image::Luma([(x * 10) as u8]))
        .save_with_format(cat.join("grey.JPG"), image::ImageFormat::Jpeg)
        .unwrap();
    image::ImageBuffer::<image::Rgb<u16>, Vec<u16>>::from_fn(20, 30, |x, y| {
        image::Rgb([x as u16 * 3000, y as u16 * 2000, 65535])
    })
    .save(cat.join("deep.png"))
    .unwrap();
    let dtd = Dtd::open(dir.path()).unwrap();
    assert_eq!(dtd.len(), 2, "{:?}", dtd.skipped());
    assert_eq!(dtd.name(0), "porous/deep.png");
    assert_eq!(dtd.name(1), "porous/grey.JPG");
    let deep = dtd.load(0, 10).unwrap();
    assert!(
        deep.rgba
            .chunks_exact(4)
            .all(|p| p[2] == 255 && p[3] == 255)
    );
    let grey = dtd.load(1, 12).unwrap();
    assert!(
        grey.rgba
            .chunks_exact(4)
            .all(|p| p[0] == p[1] && p[1] == p[2])
    );
    assert!(grey.pixel(11, 5)[0] > grey.pixel(0, 5)[0] + 100);
}
