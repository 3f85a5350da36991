//! Writing a model library as OBJ files in a ShapeNetCore layout, so the ShapeNet reading path
//! can be exercised end to end without ShapeNet.
//!
//! Input: a [`ModelSource`], a directory, a count per class, a [`Layout`]. Output:
//! `DIR/SYNSET/ID/models/model_normalized.obj` (v2) or `DIR/SYNSET/ID/model.obj` (v1), with
//! positions and normals in that release's orientation (y up; front -z in v2, +x in v1) and
//! faces `v//vn`; each file is written under a temporary name and renamed.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::obj::from_frame;
use crate::{Class, ExportError, Mesh, ModelSource};

/// ShapeNetCore directory layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `SYNSET/MODEL/model.obj`
    V1,
    /// `SYNSET/MODEL/models/model_normalized.obj`
    V2,
}

impl Layout {
    /// Path of a model's OBJ file relative to the model folder.
    pub fn model_file(self) -> &'static str {
        match self {
            Layout::V1 => "model.obj",
            Layout::V2 => "models/model_normalized.obj",
        }
    }
}

/// What [`export_shapenet`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportSummary {
    /// The OBJ files written, in class then model order.
    pub files: Vec<PathBuf>,
    /// Total triangles written.
    pub triangles: usize,
}

/// Writes the first `per_class` models of every class of `source` into `dir` in `layout`.
pub fn export_shapenet(
    source: &dyn ModelSource,
    dir: &Path,
    per_class: usize,
    layout: Layout,
) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    for class in Class::ALL {
        for key in source.models(class).into_iter().take(per_class) {
            let mesh = source.load(&key).map_err(|source| ExportError::Model {
                key: key.to_string(),
                source,
            })?;
            let file = dir
                .join(class.synset())
                .join(&key.id)
                .join(layout.model_file());
            write_obj(&mesh, &file, layout, &format!("{} {}", class, key.id))?;
            summary.triangles += mesh.triangle_count();
            summary.files.push(file);
        }
    }
    Ok(summary)
}

/// Writes one mesh as OBJ (`layout`'s orientation, `v`, `vn`, `f v//vn`), atomically.
pub fn write_obj(
    mesh: &Mesh,
    file: &Path,
    layout: Layout,
    comment: &str,
) -> Result<(), ExportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    let parent = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let mut text = String::with_capacity(mesh.positions.len() * 80 + mesh.indices.len() * 8);
    text.push_str(&format!(
        "# {comment}\n# written by shapenet_loader::export_shapenet\n"
    ));
    for p in &mesh.positions {
        let [x, y, z] = from_frame(layout, *p);
        text.push_str(&format!("v {x} {y} {z}\n"));
    }
    for n in &mesh.normals {
        let [x, y, z] = from_frame(layout, *n);
        text.push_str(&format!("vn {x} {y} {z}\n"));
    }
    text.push_str("g model\n");
    for t in mesh.indices.chunks_exact(3) {
        let [a, b, c] = [t[0] + 1, t[1] + 1, t[2] + 1];
        text.push_str(&format!("f {a}//{a} {b}//{b} {c}//{c}\n"));
    }
    let tmp = file.with_extension("obj.tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(file))
}
