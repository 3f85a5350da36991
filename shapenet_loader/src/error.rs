//! Typed errors of the crate. Every variant names the file (or model) it is about and why it
//! failed, so a long render can skip a bad model and report it.

use std::path::PathBuf;

use crate::Class;

/// Why one model could not be loaded. Callers usually skip the model and report
/// [`ModelError::reason`] with the path.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file could not be read.
    #[error("{path}: cannot read model file: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The OBJ text could not be parsed.
    #[error("{path}: not a valid OBJ file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        message: String,
    },
    /// The file parsed but holds no triangles.
    #[error("{path}: no faces (a mesh needs at least one triangle)")]
    NoFaces {
        /// The file.
        path: PathBuf,
    },
    /// A position or normal is NaN or infinite.
    #[error("{path}: non-finite coordinate ({what})")]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Which data was non-finite, e.g. "vertex 12 position".
        what: String,
    },
    /// A face refers to a vertex that does not exist.
    #[error(
        "{path}: face refers to {element} {index} (0-based) but the file defines {vertices} before it"
    )]
    IndexOutOfRange {
        /// The file.
        path: PathBuf,
        /// "vertex", "texture coordinate" or "normal".
        element: &'static str,
        /// The offending index (0-based after resolving relative indices).
        index: i64,
        /// Number of such elements defined before the face.
        vertices: usize,
    },
    /// All triangles are degenerate or the bounding box has zero size.
    #[error("{path}: degenerate geometry ({what})")]
    Degenerate {
        /// The file.
        path: PathBuf,
        /// What is degenerate.
        what: String,
    },
    /// The key names no model of this source.
    #[error("unknown model {class}/{id}")]
    UnknownModel {
        /// Class of the key.
        class: Class,
        /// Id of the key.
        id: String,
    },
}

impl ModelError {
    /// A short machine-readable reason: `io`, `parse`, `no_faces`, `non_finite`,
    /// `index_out_of_range`, `degenerate`, `unknown_model`.
    pub fn reason(&self) -> &'static str {
        match self {
            ModelError::Io { .. } => "io",
            ModelError::Parse { .. } => "parse",
            ModelError::NoFaces { .. } => "no_faces",
            ModelError::NonFinite { .. } => "non_finite",
            ModelError::IndexOutOfRange { .. } => "index_out_of_range",
            ModelError::Degenerate { .. } => "degenerate",
            ModelError::UnknownModel { .. } => "unknown_model",
        }
    }

    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            ModelError::Io { path, .. }
            | ModelError::Parse { path, .. }
            | ModelError::NoFaces { path }
            | ModelError::NonFinite { path, .. }
            | ModelError::IndexOutOfRange { path, .. }
            | ModelError::Degenerate { path, .. } => Some(path),
            ModelError::UnknownModel { .. } => None,
        }
    }
}

/// Why a ShapeNetCore directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ShapeNetError {
    /// The root directory does not exist or is not a directory.
    #[error(
        "{path}: not a ShapeNetCore directory (expected a directory holding synset folders such as 02691156/)"
    )]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A requested class's synset directory is missing.
    #[error(
        "{path}: missing directory of class {class} (expected synset folder {synset}){}",
        missing_class_hint(missing, present),
        synset = class.synset()
    )]
    MissingClass {
        /// The (first) missing class.
        class: Class,
        /// Its expected directory.
        path: PathBuf,
        /// Every requested class whose directory is missing, `class` first.
        missing: Vec<Class>,
        /// The classes whose synset directories are there, in label order.
        present: Vec<Class>,
    },
    /// A class's synset directory holds no model with a readable OBJ file.
    #[error(
        "{path}: no {class} models (expected MODEL/models/model_normalized.obj (v2) or MODEL/model.obj (v1) below it); add models of this class or leave it out with --classes"
    )]
    EmptyClass {
        /// The class.
        class: Class,
        /// The synset directory.
        path: PathBuf,
    },
    /// A directory could not be listed.
    #[error("{path}: cannot list directory: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The tail of a [`ShapeNetError::MissingClass`] message: the other missing classes and the
/// `--classes` list that renders what is there.
fn missing_class_hint(missing: &[Class], present: &[Class]) -> String {
    let names = |cs: &[Class]| cs.iter().map(|c| c.name()).collect::<Vec<_>>();
    let mut hint = String::new();
    if missing.len() > 1 {
        hint.push_str(&format!(
            "; {} of the requested classes are missing: {}",
            missing.len(),
            names(missing).join(", ")
        ));
    }
    if present.is_empty() {
        hint.push_str(
            "; the directory holds no class folder at all (ShapeNetCore synset folders such as 02691156/ for airplane)",
        );
    } else {
        hint.push_str(&format!(
            "; to render only the classes that are there, pass --classes {}",
            names(present).join(",")
        ));
    }
    hint
}

/// Why exporting models as OBJ files failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A model of the source could not be loaded.
    #[error("exporting {key}: {source}")]
    Model {
        /// The model.
        key: String,
        /// Why.
        #[source]
        source: ModelError,
    },
    /// A file could not be written.
    #[error("{path}: cannot write: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
