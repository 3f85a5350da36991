#!/usr/bin/env python3
"""Read MosaicML Streaming MDS shards (our datasets or any MDS directory) into numpy arrays.

Dependencies: numpy and zstandard only (no `streaming` install needed).

Input: a dataset directory (manifest.json + train/ val/ test/) or one MDS directory holding
index.json. Output: per split a dict column -> numpy array (fixed-shape columns stacked to
(N, ...)), `json`/`str`/`bytes` columns as lists. Every shard is checked against index.json
(size, sha1 or xxh64 when available, sample count, offsets, embedded config).

    python3 tools/python/read_mds.py DIR               # summary of shapes and value ranges
    python3 tools/python/read_mds.py DIR --json        # every value as JSON (for tests)
    python3 tools/python/read_mds.py DIR --split val   # one split of a dataset directory

In your own code:

    from read_mds import read_dir
    cols = read_dir("out/train")      # {'image': uint8 (N,H,W,3), 'class': int64 (N,), ...}
"""

import argparse
import hashlib
import importlib.util
import json
import os
import sys


def _use_project_venv():
    """Run as a script without numpy or zstandard: re-run it with the project venv's Python
    (.venv/ at the repository root, made by scripts/test.sh) when there is one, so nothing needs
    activating."""
    if all(importlib.util.find_spec(m) for m in ("numpy", "zstandard")):
        return
    venv = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".venv")
    python = os.path.join(venv, "bin", "python3")
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(venv)
    if os.path.exists(python) and not in_venv and not os.environ.get("READ_MDS_REEXEC"):
        os.environ["READ_MDS_REEXEC"] = "1"
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


if __name__ == "__main__":
    _use_project_venv()

try:
    import numpy as np
except ImportError as e:
    raise ImportError(
        "read_mds.py needs numpy and zstandard: run scripts/test.sh once (it creates the venv "
        ".venv/ that this script then uses by itself) or `python3 -m pip install numpy zstandard`"
    ) from e

try:
    import zstandard
except ImportError:  # only needed for compressed shards
    zstandard = None

try:
    import xxhash  # optional: used when present and the index has no sha1
except ImportError:
    xxhash = None

SPLITS = ("train", "val", "test")
SCALARS = {
    "uint8", "int8", "uint16", "int16", "float16", "uint32", "int32", "float32", "uint64",
    "int64", "float64",
}
NDARRAY_DTYPE_CODES = {
    8: "uint8", 9: "int8", 16: "uint16", 17: "int16", 18: "float16", 32: "uint32", 33: "int32",
    34: "float32", 64: "uint64", 65: "int64", 66: "float64",
}


class MdsError(Exception):
    """A corrupt, truncated or inconsistent shard or index (the message names the file)."""


def _decode(encoding, data):
    name, _, config = encoding.partition(":")
    if name == "int":
        return int(np.frombuffer(data, "<i8")[0])
    if name in SCALARS:
        return np.frombuffer(data, np.dtype(name).newbyteorder("<"))[0]
    if name == "str" or name == "str_decimal":
        return data.decode("utf-8")
    if name == "str_int":
        return int(data.decode("utf-8"))
    if name == "str_float":
        return float(data.decode("utf-8"))
    if name == "json":
        return json.loads(data.decode("utf-8"))
    if name == "ndarray":
        parts = config.split(":") if config else []
        i = 0
        if parts:
            dtype = parts[0]
        else:
            dtype = NDARRAY_DTYPE_CODES[data[0]]
            i = 1
        if len(parts) >= 2:
            shape = tuple(int(d) for d in parts[1].split(","))
        else:
            byte = data[i]
            i += 1
            ndim, width = byte >> 2, 1 << (byte & 3)
            shape = tuple(int(x) for x in np.frombuffer(data[i:i + ndim * width], "<u%d" % width))
            i += ndim * width
        return np.frombuffer(data[i:], np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return bytes(data)  # bytes, png, jpeg, pkl, ...: raw payload


def _check_file(path, info, data):
    if len(data) != info["bytes"]:
        raise MdsError(f"{path}: size mismatch: index.json says {info['bytes']} bytes, "
                       f"found {len(data)} (truncated or overwritten?)")
    hashes = info.get("hashes") or {}
    algos = [("sha1", lambda d: hashlib.sha1(d).hexdigest())]
    if xxhash is not None:
        algos.append(("xxh64", lambda d: xxhash.xxh64(d).hexdigest()))
    for algo, fn in algos:
        if algo in hashes:
            found = fn(data)
            if found != hashes[algo]:
                raise MdsError(f"{path}: {algo} hash mismatch: index.json says {hashes[algo]}, "
                               f"file hashes to {found}")
            return


def _read_shard(dirname, entry):
    raw_info, zip_info = entry["raw_data"], entry.get("zip_data")
    raw_path = os.path.join(dirname, raw_info["basename"])
    if zip_info and (os.path.exists(os.path.join(dirname, zip_info["basename"]))
                     or not os.path.exists(raw_path)):
        path = os.path.join(dirname, zip_info["basename"])
        if not entry["compression"].startswith("zstd"):
            raise MdsError(f"{path}: unsupported compression {entry['compression']!r}")
        if zstandard is None:
            raise MdsError(f"{path}: zstd-compressed; pip install zstandard")
        data = _read_bytes(path)
        _check_file(path, zip_info, data)
        try:
            raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_info["bytes"])
        except zstandard.ZstdError as e:
            raise MdsError(f"{path}: zstd decompression failed: {e}") from None
    else:
        path = raw_path
        raw = _read_bytes(path)
    _check_file(path, raw_info, raw)
    return path, raw


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise MdsError(f"{path}: shard file is missing (listed in index.json)") from None


def _decode_shard(path, raw, entry):
    names, encodings, sizes = entry["column_names"], entry["column_encodings"], entry["column_sizes"]
    if len(raw) < 4:
        raise MdsError(f"{path}: corrupt shard: shorter than its sample count")
    n = int(np.frombuffer(raw[:4], "<u4")[0])
    if n != entry["samples"]:
        raise MdsError(f"{path}: corrupt shard: holds {n} samples, index.json says {entry['samples']}")
    end = 4 + 4 * (n + 1)
    if len(raw) < end:
        raise MdsError(f"{path}: corrupt shard: too short for {n + 1} offsets")
    offsets = np.frombuffer(raw[4:end], "<u4").astype(np.int64)
    if offsets[0] < end or np.any(np.diff(offsets) < 0) or offsets[-1] != len(raw):
        raise MdsError(f"{path}: corrupt shard: offsets are not monotonic within the file")
    try:
        config = json.loads(raw[end:offsets[0]].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MdsError(f"{path}: corrupt shard: embedded config is not JSON: {e}") from None
    for key in ("column_names", "column_encodings", "column_sizes", "format", "version"):
        if config.get(key) != entry.get(key):
            raise MdsError(f"{path}: corrupt shard: embedded config {key} differs from index.json")
    rows = []
    n_var = sum(1 for s in sizes if not s)
    for s in range(n):
        sample = raw[offsets[s]:offsets[s + 1]]
        var = np.frombuffer(sample[:4 * n_var], "<u4") if n_var else []
        at, k, row = 4 * n_var, 0, {}
        for name, enc, size in zip(names, encodings, sizes):
            if not size:
                size = int(var[k])
                k += 1
            if at + size > len(sample):
                raise MdsError(f"{path}: corrupt shard: sample {s} column {name} runs past its end")
            try:
                row[name] = _decode(enc, sample[at:at + size])
            except (ValueError, KeyError, IndexError) as e:
                raise MdsError(f"{path}: corrupt shard: sample {s} column {name}: {e}") from None
            at += size
        if at != len(sample):
            raise MdsError(f"{path}: corrupt shard: sample {s} has trailing bytes")
        rows.append(row)
    return names, rows


def read_dir(dirname):
    """Read one MDS directory (with index.json) into {column: numpy array or list}."""
    index_path = os.path.join(dirname, "index.json")
    try:
        with open(index_path, "rb") as f:
            index = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise MdsError(f"{index_path}: missing (is this an MDS directory? run `render merge`)") from None
    except ValueError as e:
        raise MdsError(f"{index_path}: invalid index: not valid JSON: {e}") from None
    if not isinstance(index, dict) or index.get("version") != 2 or not isinstance(index.get("shards"), list):
        raise MdsError(f"{index_path}: invalid index: expected {{'version': 2, 'shards': [...]}}")
    columns = {}
    names = []
    for entry in index["shards"]:
        if entry.get("format") != "mds":
            raise MdsError(f"{index_path}: invalid index: shard format {entry.get('format')!r} is not mds")
        path, raw = _read_shard(dirname, entry)
        names, rows = _decode_shard(path, raw, entry)
        for row in rows:
            for name in names:
                columns.setdefault(name, []).append(row[name])
    out = {}
    for name in names:
        values = columns.get(name, [])
        if values and isinstance(values[0], (int, np.generic)) and not isinstance(values[0], bool):
            out[name] = np.array(values)
        elif values and isinstance(values[0], np.ndarray) and all(v.shape == values[0].shape for v in values):
            out[name] = np.stack(values)
        else:
            out[name] = values
    return out


def read_dataset(path):
    """Read a dataset directory ({split: columns}) or one MDS directory ({'.': columns})."""
    if os.path.exists(os.path.join(path, "index.json")):
        return {".": read_dir(path)}
    if not any(os.path.isdir(os.path.join(path, s)) for s in SPLITS):
        raise MdsError(f"{path}: neither an MDS directory (index.json) nor a dataset (train/ val/ test/)")
    return {s: read_dir(os.path.join(path, s)) for s in SPLITS if os.path.isdir(os.path.join(path, s))}


def _to_jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return list(v)
    if isinstance(v, list):
        return [_to_jsonable(x) for x in v]
    return v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("path", help="dataset directory or MDS directory with index.json")
    p.add_argument("--split", choices=SPLITS, help="read only this split of a dataset directory")
    p.add_argument("--json", action="store_true", help="print every value as JSON")
    args = p.parse_args(argv)
    try:
        if args.split:
            data = {args.split: read_dir(os.path.join(args.path, args.split))}
        else:
            data = read_dataset(args.path)
    except MdsError as e:
        print(f"read_mds: error: {e}", file=sys.stderr)
        return 1
    if args.json:
        out = {split: {name: {"dtype": str(v.dtype) if isinstance(v, np.ndarray) else "object",
                              "shape": list(v.shape) if isinstance(v, np.ndarray) else [len(v)],
                              "values": _to_jsonable(v)}
                       for name, v in cols.items()}
               for split, cols in data.items()}
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
        return 0
    for split, cols in data.items():
        n = max((len(v) for v in cols.values()), default=0)
        print(f"{split}: {n} samples")
        for name, v in cols.items():
            if isinstance(v, np.ndarray):
                rng = f" range [{v.min()}, {v.max()}]" if v.size else ""
                print(f"  {name:14s} {str(v.dtype):8s} {tuple(v.shape)}{rng}")
            else:
                print(f"  {name:14s} list     ({len(v)},)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        sys.exit(0)
