"""Independent safetensors reader/writer (struct + json + torch) for interop tests.

Usage:
  safetensors_interop.py check             exit 0 if torch is importable
  safetensors_interop.py write PATH        write the fixed sample tensors to PATH
  safetensors_interop.py read PATH         print PATH's contents as JSON

Deliberately does not use the `safetensors` package, so the TypeScript
implementation is checked against a second reading of the spec.
"""
import json
import math
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}


def sample():
    inf = float("inf")
    tensors = {
        "f64": torch.tensor([[0.1, -2.5, 1e300], [5e-324, -0.0, inf]], dtype=torch.float64),
        "f32": torch.tensor([1.5, -3.25, 2.0 ** -149, float("nan")], dtype=torch.float32),
        "f16": torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -24, inf, -0.0], dtype=torch.float16),
        "bf16": torch.tensor([[1.0, -3.140625], [2.0 ** 100, 2.0 ** -130]], dtype=torch.bfloat16),
        "i64": torch.tensor([2 ** 63 - 1, -(2 ** 63), 2 ** 53 + 1, -7], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767, 0], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "mask": torch.tensor([[True, False, True]], dtype=torch.bool),
        "scalar": torch.tensor(42, dtype=torch.int64),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    metadata = {"format": "pt", "step": "1200", "note": "héllo ✓"}
    return tensors, metadata


def to_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)  # numpy has no bfloat16
    return t.numpy().tobytes()


def write(path):
    tensors, metadata = sample()
    # Same order as the reference writer: larger item size first, then name.
    order = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in order:
        data = to_bytes(tensors[name])
        header[name] = {
            "dtype": NAMES[tensors[name].dtype],
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(chunks))


def encode(v):
    # JSON has no inf/nan; send them as strings and everything else as exact numbers.
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # int64 does not survive a trip through a JS number
    return v


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    out, covered = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        assert begin == covered, "gap or overlap at " + name
        covered = end
        dtype, shape = DTYPES[info["dtype"]], info["shape"]
        if begin == end:
            t = torch.empty(shape, dtype=dtype)  # frombuffer rejects empty buffers
        else:
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(shape)
        values = t.double().tolist() if dtype in (torch.float16, torch.bfloat16) else t.tolist()
        out[name] = {"dtype": info["dtype"], "shape": shape, "values": encode(values)}
    assert covered == len(data), "trailing bytes"
    print(json.dumps({
        "tensors": out,
        "metadata": metadata,
        "header_aligned": (8 + n) % 8 == 0,
        "header_padding_is_spaces": blob[8:8 + n].decode("utf-8").rstrip(" ").endswith("}"),
    }))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "write":
        write(sys.argv[2])
    elif mode == "read":
        read(sys.argv[2])
    elif mode != "check":
        sys.exit("unknown mode " + mode)
