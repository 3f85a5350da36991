#!/usr/bin/env python3
"""Write the MDS test fixtures of datasets/tests/storage_fixtures/ with MosaicML Streaming itself.

Needs `pip install mosaicml-streaming` (not needed by CI: the output is committed). The Rust test
`storage::reads_shards_written_by_streaming` reads these directories and compares every value
with expected.json.

    python3 tools/python/make_streaming_fixture.py datasets/tests/storage_fixtures
"""

import json
import os
import shutil
import sys

import numpy as np
from streaming import MDSWriter

COLUMNS = {
    "id": "int",
    "name": "str",
    "blob": "bytes",
    "meta": "json",
    "u16": "uint16",
    "f32": "float32",
    "i8": "int8",
    "big": "str_int",
    "static": "ndarray:uint16:2,3",
    "dyn_shape": "ndarray:int32",
    "dyn_all": "ndarray",
}


def sample(i):
    return {
        "id": -(2**40) + i,
        "name": f"sample-{i}-é",
        "blob": bytes(range(i)),
        "meta": {"i": i, "x": [0.5 * i, None, True], "s": "ü"},
        "u16": 65535 - i,
        "f32": 0.25 * i,
        "i8": -i,
        "big": 10**12 + i,
        "static": np.arange(6, dtype=np.uint16).reshape(2, 3) * i,
        "dyn_shape": np.arange(i + 1, dtype=np.int32).reshape(1, i + 1) - 3,
        "dyn_all": np.full((300, 1), i, dtype=np.float64),
    }


def expected(i):
    s = sample(i)
    out = {}
    for k, v in s.items():
        if isinstance(v, np.ndarray):
            out[k] = {"dtype": v.dtype.name, "shape": list(v.shape), "values": v.ravel().tolist()}
        elif isinstance(v, bytes):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def our_sample(i, h=4, w=3):
    """The deterministic samples of storage::rust_writer_matches_streaming_bytes (Rust twin)."""
    n = h * w
    depth = [(j * 5003 + i * 17) % 65536 for j in range(n)]
    if i == 0:
        depth[0] = 65535
    return {
        "class": i % 10,
        "depth": np.array(depth, dtype=np.uint16).reshape(h, w),
        "image": np.array([(j * 7 + i * 13) % 256 for j in range(n * 3)], dtype=np.uint8).reshape(h, w, 3),
        "instance": np.array([(j * 3 + i) % 5 for j in range(n)], dtype=np.uint8).reshape(h, w),
        "meta": {"index": i, "light": [0.1 * i, -1.5], "model": f"02691156/\u00e9{i}"},
        "pose": i % 5,
        "segmentation": np.array([(j + i) % 11 for j in range(n)], dtype=np.uint8).reshape(h, w),
    }


def main(root):
    out = os.path.join(root, "streaming_samples")
    shutil.rmtree(out, ignore_errors=True)
    columns = {"class": "int", "depth": "ndarray:uint16:4,3", "image": "ndarray:uint8:4,3,3",
               "instance": "ndarray:uint8:4,3", "meta": "json", "pose": "int",
               "segmentation": "ndarray:uint8:4,3"}
    with MDSWriter(out=out, columns=columns, compression="zstd:3", hashes=["sha1", "xxh64"]) as w:
        for i in range(5):
            w.write(our_sample(i))

    n = 7
    for name, compression in [("streaming_raw", None), ("streaming_zstd", "zstd:5")]:
        out = os.path.join(root, name)
        shutil.rmtree(out, ignore_errors=True)
        # A small size_limit so the 7 samples spread over several shards.
        with MDSWriter(out=out, columns=COLUMNS, compression=compression,
                       hashes=["sha1", "xxh64"] if compression else [], size_limit=6000) as w:
            for i in range(n):
                w.write(sample(i))
    with open(os.path.join(root, "streaming_expected.json"), "w") as f:
        json.dump([expected(i) for i in range(n)], f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "datasets/tests/storage_fixtures")
