//! Reading the Describable Textures Dataset (DTD).
//!
//! Input: a DTD directory, `DIR/images/CATEGORY/*.jpg` (47 categories in the real dataset; any
//! category names are accepted), or `DIR` pointing directly at `images/`. PNG files are accepted
//! too. Output: a [`TextureSource`] whose textures are named `CATEGORY/FILE` in sorted order and
//! load as centre-cropped, resized, square RGBA8 tiles.
//!
//! Opening lists the files and, by default, reads each image header ([`Verify::Header`]), so
//! files that are not images at all are skipped and reported by [`Dtd::skipped`] before a long
//! render starts; [`Verify::Decode`] decodes every image fully. A file that still fails later
//! gives a [`TextureError`] naming it.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{ImageReader, RgbaImage};
use xxhash_rust::xxh64::Xxh64;

use crate::source::{check_index, check_size};
use crate::{DtdError, Split, Texture, TextureError, TextureSource};

/// How much [`Dtd::open_with`] checks each image before accepting it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verify {
    /// Only list files by extension.
    None,
    /// Read each file's header (format and dimensions): cheap, catches non-images and empty files.
    #[default]
    Header,
    /// Decode every image fully: slow, catches truncated and corrupt pixel data too.
    Decode,
}

/// Options of [`Dtd::open_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DtdOptions {
    /// Per-image check at open time.
    pub verify: Verify,
}

/// An image file that was left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// `CATEGORY/FILE` (lossy UTF-8 if the name is not UTF-8).
    pub name: String,
    /// Full path of the file.
    pub path: PathBuf,
    /// Short reason code ([`TextureError::reason`], or `"non-utf8-name"`).
    pub reason: &'static str,
    /// The full error message.
    pub message: String,
}

#[derive(Clone, Debug)]
struct Entry {
    name: String,
    path: PathBuf,
}

/// A DTD directory opened as a [`TextureSource`].
#[derive(Clone, Debug)]
pub struct Dtd {
    images: PathBuf,
    entries: Vec<Entry>,
    skipped: Vec<Skipped>,
    fingerprint: String,
}

const EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "jpe"];

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>, DtdError> {
    let io = |source| DtdError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Category directories (sorted) of `images` that contain at least one image file.
fn categories_with_images(images: &Path) -> Result<Vec<(String, PathBuf, Vec<PathBuf>)>, DtdError> {
    let mut out = Vec::new();
    for cat in read_dir_sorted(images)? {
        let cat_path = cat.path();
        if !cat_path.is_dir() {
            continue;
        }
        let name = cat.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let files: Vec<PathBuf> = read_dir_sorted(&cat_path)?
            .into_iter()
            .map(|e| e.path())
            .filter(|p| p.is_file() && has_image_extension(p))
            .filter(|p| {
                !p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        if !files.is_empty() {
            out.push((name, cat_path, files));
        }
    }
    Ok(out)
}

/// `map_err` adapter: an I/O error reading the image at `path`.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TextureError + '_ {
    move |source| TextureError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `map_err` adapter: the image at `path` does not decode.
fn decode_error(path: &Path) -> impl FnOnce(image::ImageError) -> TextureError + '_ {
    move |source| TextureError::Decode {
        path: path.to_path_buf(),
        source,
    }
}

/// An image with no pixels is an error naming its file.
fn check_not_empty(path: &Path, width: u32, height: u32) -> Result<(), TextureError> {
    if width == 0 || height == 0 {
        return Err(TextureError::Empty {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(())
}

fn check_header(path: &Path) -> Result<(), TextureError> {
    let (width, height) = ImageReader::open(path)
        .map_err(io_error(path))?
        .with_guessed_format()
        .map_err(io_error(path))?
        .into_dimensions()
        .map_err(decode_error(path))?;
    check_not_empty(path, width, height)
}

/// Decodes the image at `path` to RGBA8.
pub fn decode_image(path: &Path) -> Result<RgbaImage, TextureError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let img = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io_error(path))?
        .decode()
        .map_err(decode_error(path))?;
    let (width, height) = (img.width(), img.height());
    check_not_empty(path, width, height)?;
    Ok(img.into_rgba8())
}

/// Centre-crops `img` to a square and resizes it to `size x size` (Lanczos-3).
pub fn crop_resize(img: &RgbaImage, size: u32) -> Texture {
    let side = img.width().min(img.height());
    let x0 = (img.width() - side) / 2;
    let y0 = (img.height() - side) / 2;
    let square = image::imageops::crop_imm(img, x0, y0, side, side).to_image();
    let out = if side == size {
        square
    } else {
        image::imageops::resize(&square, size, size, FilterType::Lanczos3)
    };
    Texture {
        size,
        rgba: out.into_raw(),
    }
}

impl Dtd {
    /// Opens `dir` with [`DtdOptions::default`] (header verification).
    pub fn open(dir: &Path) -> Result<Dtd, DtdError> {
        Dtd::open_with(dir, DtdOptions::default())
    }

    /// Opens `dir` (`DIR/images/CATEGORY/*` or `DIR/CATEGORY/*`), listing and checking images.
    pub fn open_with(dir: &Path, options: DtdOptions) -> Result<Dtd, DtdError> {
        if !dir.exists() {
            return Err(DtdError::NotFound {
                path: dir.to_path_buf(),
            });
        }
        if !dir.is_dir() {
            return Err(DtdError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        let nested = dir.join("images");
        let mut images = dir.to_path_buf();
        let mut cats = Vec::new();
        if nested.is_dir() {
            cats = categories_with_images(&nested)?;
            images = nested;
        }
        if cats.is_empty() {
            cats = categories_with_images(dir)?;
            images = dir.to_path_buf();
        }
        if cats.is_empty() {
            return Err(DtdError::NoImages {
                path: dir.to_path_buf(),
            });
        }

        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        let mut total = 0usize;
        for (cat, _, files) in cats {
            for path in files {
                total += 1;
                let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
                let file = file.unwrap_or_default();
                let name = format!("{cat}/{file}");
                let utf8 = |p: Option<&std::ffi::OsStr>| p.and_then(|n| n.to_str()).is_some();
                if !utf8(path.file_name()) || !utf8(path.parent().and_then(|p| p.file_name())) {
                    skipped.push(Skipped {
                        message: format!("file name of {} is not valid UTF-8", path.display()),
                        name,
                        path,
                        reason: "non-utf8-name",
                    });
                    continue;
                }
                let check = match options.verify {
                    Verify::None => Ok(()),
                    Verify::Header => check_header(&path),
                    Verify::Decode => decode_image(&path).map(|_| ()),
                };
                match check {
                    Ok(()) => entries.push(Entry { name, path }),
                    Err(e) => {
                        tracing::warn!("skipping DTD image: {e}");
                        skipped.push(Skipped {
                            name,
                            path,
                            reason: e.reason(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        if entries.is_empty() {
            let first = skipped
                .first()
                .map(|s| s.message.clone())
                .unwrap_or_default();
            return Err(DtdError::AllUnreadable {
                path: images,
                count: total,
                first,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));

        let mut hasher = Xxh64::new(0);
        for e in &entries {
            let size = fs::metadata(&e.path)
                .map_err(|source| DtdError::Io {
                    path: e.path.clone(),
                    source,
                })?
                .len();
            hasher.update(e.name.as_bytes());
            hasher.update(&[0]);
            hasher.update(&size.to_le_bytes());
        }
        let fingerprint = format!("{:016x}", hasher.digest());
        Ok(Dtd {
            images,
            entries,
            skipped,
            fingerprint,
        })
    }

    /// The `images/` directory actually read.
    pub fn images_dir(&self) -> &Path {
        &self.images
    }

    /// Files left out at open time, with reasons.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Sorted, de-duplicated category names that have at least one usable image.
    pub fn categories(&self) -> Vec<String> {
        let mut cats: Vec<String> = self.entries.iter().map(|e| category_of(&e.name)).collect();
        cats.dedup();
        cats
    }

    /// Category of texture `index`. Panics if out of range.
    pub fn category(&self, index: usize) -> String {
        category_of(&self.entries[index].name)
    }

    /// Full path of texture `index`. Panics if out of range.
    pub fn path(&self, index: usize) -> &Path {
        &self.entries[index].path
    }
}

fn category_of(name: &str) -> String {
    name.split('/').next().unwrap_or_default().to_string()
}

impl TextureSource for Dtd {
    fn kind(&self) -> &'static str {
        "dtd"
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn name(&self, index: usize) -> String {
        self.entries[index].name.clone()
    }

    fn split(&self, index: usize) -> Split {
        Split::of_name(&self.entries[index].name)
    }

    fn load(&self, index: usize, size: u32) -> Result<Texture, TextureError> {
        check_index(self.kind(), index, self.len())?;
        check_size(size)?;
        let img = decode_image(&self.entries[index].path)?;
        Ok(crop_resize(&img, size))
    }
}
