//! Typed errors of texture loading ([`TextureError`]) and DTD directory opening ([`DtdError`]).
//! Every variant that concerns a file names it.

use std::path::PathBuf;

/// Why one texture could not be produced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextureError {
    /// `index >= len()`.
    #[error("texture index {index} is out of range: the {kind} texture source has {len} textures")]
    IndexOutOfRange {
        /// Source kind, `"procedural"` or `"dtd"`.
        kind: &'static str,
        /// Requested index.
        index: usize,
        /// Number of textures in the source.
        len: usize,
    },
    /// Tile size 0 or above [`crate::MAX_TEXTURE_SIZE`].
    #[error("texture size {size} is invalid: expected 1..={max} pixels")]
    InvalidSize {
        /// Requested size.
        size: u32,
        /// Largest accepted size.
        max: u32,
    },
    /// The image file could not be opened or read.
    #[error("cannot read texture image {}: {source}", path.display())]
    Io {
        /// The image file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The image file is not a decodable PNG/JPEG (corrupt, truncated, other format).
    #[error("cannot decode texture image {}: {source}", path.display())]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: image::ImageError,
    },
    /// The image decodes to zero pixels.
    #[error("texture image {} has no pixels ({width}x{height})", path.display())]
    Empty {
        /// The image file.
        path: PathBuf,
        /// Decoded width.
        width: u32,
        /// Decoded height.
        height: u32,
    },
}

impl TextureError {
    /// A short, stable reason code for reports: `"index-out-of-range"`, `"invalid-size"`, `"io"`,
    /// `"decode"`, `"empty"`.
    pub fn reason(&self) -> &'static str {
        match self {
            TextureError::IndexOutOfRange { .. } => "index-out-of-range",
            TextureError::InvalidSize { .. } => "invalid-size",
            TextureError::Io { .. } => "io",
            TextureError::Decode { .. } => "decode",
            TextureError::Empty { .. } => "empty",
        }
    }

    /// The file the error concerns, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            TextureError::Io { path, .. }
            | TextureError::Decode { path, .. }
            | TextureError::Empty { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// Why a DTD directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DtdError {
    /// The directory does not exist.
    #[error("DTD directory {} does not exist", path.display())]
    NotFound {
        /// The directory given.
        path: PathBuf,
    },
    /// The path exists but is not a directory.
    #[error("DTD path {} is not a directory (expected a folder with images/CATEGORY/*.jpg)", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A directory could not be listed.
    #[error("cannot read DTD directory {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Neither `DIR/images/CATEGORY/*.jpg` nor `DIR/CATEGORY/*.jpg` holds any image file.
    #[error(
        "DTD directory {} has no images: expected images/CATEGORY/*.jpg (or CATEGORY/*.jpg directly)",
        path.display()
    )]
    NoImages {
        /// The directory given.
        path: PathBuf,
    },
    /// Image files exist but every one of them failed verification.
    #[error("all {count} images under {} are unreadable; the first: {first}", path.display())]
    AllUnreadable {
        /// The images directory.
        path: PathBuf,
        /// How many were skipped.
        count: usize,
        /// The first skipped file and why.
        first: String,
    },
}
