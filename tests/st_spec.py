"""safetensors read/write written from the specification with json + numpy
only (no safetensors package), shared by the reference generator and the
PyTorch round-trip test.

Format: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the data section, little-endian, row-major."""
import json
import struct

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "F16": "<f2"}


def write(path, tensors, metadata=None):
    """tensors: list of (name, numpy array) in file order."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, arr in tensors:
        code = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64"}[arr.dtype.newbyteorder("<")]
        raw = np.ascontiguousarray(arr, dtype=DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path):
    """Returns ({name: numpy array}, metadata dict), checking the layout."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if n > 100_000_000 or 8 + n > len(data):
        raise ValueError(f"{path}: bad header length {n}")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    body = data[8 + n:]
    out, expect = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        if begin != expect:
            raise ValueError(f"{path}: {name} not contiguous")
        arr = np.frombuffer(body[begin:end], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
        expect = end
    if expect != len(body):
        raise ValueError(f"{path}: data section {len(body)} bytes, offsets cover {expect}")
    return out, meta
