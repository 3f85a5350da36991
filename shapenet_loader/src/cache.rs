//! On-disk cache of parsed, simplified meshes, so a long render does not re-parse OBJ files.
//!
//! Input: a model file path, its size and mtime, the triangle budget (and the loader version). Output: a cache file
//! `<cache_dir>/<xxh64 key>.mesh` holding a magic header, the mesh bytes and their xxh64
//! checksum. Entries are written to a temporary name and renamed, so a reader never sees a
//! partial file; an unreadable, truncated or corrupt entry is ignored (and rewritten).

use std::io::Write;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh64::xxh64;

use crate::Mesh;

const MAGIC: &[u8; 8] = b"SNLMESH1";

/// The cache key of a model file: path, size, mtime, budget and the format version.
pub fn cache_key(path: &Path, triangle_budget: usize) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let text = format!(
        "{}|loader{}|{}|{}|{}|{}",
        std::str::from_utf8(MAGIC).unwrap_or("SNLMESH1"),
        crate::obj::LOADER_VERSION,
        path.display(),
        meta.len(),
        mtime,
        triangle_budget
    );
    Some(format!("{:016x}", xxh64(text.as_bytes(), 0)))
}

/// Path of the cache entry for `key`.
pub fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.mesh"))
}

/// Reads an entry; `None` when missing or corrupt.
pub fn read(dir: &Path, key: &str) -> Option<Mesh> {
    let bytes = std::fs::read(entry_path(dir, key)).ok()?;
    decode(&bytes)
}

fn decode(bytes: &[u8]) -> Option<Mesh> {
    let body = bytes.strip_prefix(MAGIC.as_slice())?;
    if body.len() < 8 {
        return None;
    }
    let (data, sum) = body.split_at(body.len() - 8);
    if xxh64(data, 0).to_le_bytes() != sum {
        return None;
    }
    let mesh = Mesh::from_bytes(data)?;
    mesh.validate().ok()?;
    Some(mesh)
}

fn encode(mesh: &Mesh) -> Vec<u8> {
    let data = mesh.to_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&data);
    out.extend_from_slice(&xxh64(&data, 0).to_le_bytes());
    out
}

/// Writes an entry atomically (temporary file in the same directory, then rename).
pub fn write(dir: &Path, key: &str, mesh: &Mesh) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let final_path = entry_path(dir, key);
    let tmp = dir.join(
        format!(
            ".{key}.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        )
        .replace(['(', ')'], ""),
    );
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode(mesh))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &final_path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh() -> Mesh {
        Mesh {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            normals: vec![[0.0, 0.0, 1.0]; 3],
            indices: vec![0, 1, 2],
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "abc", &mesh()).unwrap();
        assert_eq!(read(dir.path(), "abc"), Some(mesh()));
        assert_eq!(read(dir.path(), "missing"), None);
        let p = entry_path(dir.path(), "abc");
        let mut bytes = std::fs::read(&p).unwrap();
        let n = bytes.len();
        bytes[n / 2] ^= 0x55;
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read(dir.path(), "abc"), None);
        std::fs::write(&p, &bytes[..10]).unwrap();
        assert_eq!(read(dir.path(), "abc"), None);
        // no temporary files left behind
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
