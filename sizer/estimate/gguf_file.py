"""Read the header of a GGUF file and map its metadata onto a :class:`~sizer.types.ModelEntry`.

Only the header is read: the magic, version, counts, metadata key/value pairs and tensor infos.
Tensor data is never read nor mapped; its size is known exactly from the tensor infos
(``GGML_QUANT_SIZES``), so a model can be sized from its GGUF file alone, or from the first few
megabytes of one (``check_data=False``).

Why a parser of our own rather than ``gguf.GGUFReader``
-------------------------------------------------------
The constants (value types, ggml types and their block sizes, file types, metadata keys) come
from the ``gguf`` package (llama.cpp's gguf-py) and are not copied here. Its reader is not used,
because it cannot give bounded behaviour; measured with gguf 0.19.0 on this machine:

* it memory-maps the whole file (``np.memmap``) and materializes every metadata array element
  as its own numpy array: a header with a 256k-token vocabulary (10.8 MB) took 14.4 s and
  954 MB RSS to open (46 s / 917 MB traced under tracemalloc);
* on hostile input it either accepts nonsense silently (a string length of 2**62 is cut at the
  end of the map and the file "parses"; ``n_dims = 9`` is accepted) or fails with whatever numpy
  raises (``IndexError`` on a string array claiming 2**40 items).

This parser streams from a seekable binary file object through a small read buffer. Every
length and count is checked against the bytes left in the file before anything is read or
allocated, big metadata arrays (the tokenizer's tokens, scores, merges…) are skipped with
only their length recorded, and loops are bounded by the file size. Everything wrong with the
file surfaces as one :class:`~sizer.errors.InvalidInputError` whose one-line message names the
file and the spot ("model.gguf: truncated in tensor info 12 of 291"). The 256k-vocabulary
header above reads in about 0.1 s with a peak of well under 1 MB traced.

The checks follow llama.cpp's own loader (``ggml/src/gguf.cpp``): versions 2 and 3 only,
little- or big-endian, no nested arrays, at most 4 dimensions, tensor names under 64 bytes,
no duplicate keys or tensor names, rows a whole number of quant blocks, offsets aligned to
``general.alignment`` and tensors inside the data section.
"""

from __future__ import annotations

import io
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Mapping, Optional, Union

from gguf.constants import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    ExpertGatingFuncType,
    GGMLQuantizationType,
    GGUFValueType,
    Keys,
    LlamaFileType,
)

from sizer.errors import InvalidInputError, UnsupportedError
from sizer.types import ModelEntry, slugify

__all__ = [
    "GgufHeader",
    "GgufTensor",
    "SkippedArray",
    "SkippedString",
    "SUPPORTED_ARCHITECTURES",
    "model_entry_from_gguf",
    "parse_gguf_header",
    "read_gguf_header",
]

GGUF_MAGIC_BYTES = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_TENSOR_NAME_BYTES = 63  # GGML_MAX_NAME is 64 including the terminating NUL
MAX_KEY_BYTES = 65535  # the GGUF spec: keys are at most 2**16 - 1 bytes
MAX_STRING_ARRAY_ITEMS = 1 << 24  # bounds the per-string scan loop (real vocabularies: <= ~260k)

# What is kept in GgufHeader.metadata; anything larger is skipped with its length recorded.
KEEP_STRING_BYTES = 1 << 16
KEEP_ARRAY_ITEMS = 4096
KEEP_STRING_ARRAY_ITEMS = 256
KEEP_STRING_ARRAY_BYTES = 1 << 16
# Arrays never materialized whatever their size: they only ever matter by their length.
ALWAYS_SKIP = frozenset(
    {
        Keys.Tokenizer.LIST,
        Keys.Tokenizer.TOKEN_TYPE,
        Keys.Tokenizer.SCORES,
        Keys.Tokenizer.MERGES,
        "tokenizer.ggml.precompiled_charsmap",
    }
)

_CHUNK = 1 << 16

_SCALAR_FORMATS: dict[int, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "B",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SkippedArray:
    """A metadata array that was not materialized (too big, or a tokenizer list): its length."""

    element_type: str
    length: int


@dataclass(frozen=True)
class SkippedString:
    """A metadata string longer than ``KEEP_STRING_BYTES``: its length in bytes."""

    length: int


MetaValue = Union[int, float, bool, str, tuple, SkippedArray, SkippedString]


@dataclass(frozen=True)
class GgufTensor:
    """One tensor info. ``shape`` is in ggml order: ``shape[0]`` is the contiguous row length."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    type_id: int
    offset: int  # from the start of the tensor data section
    n_elements: int
    n_bytes: int


@dataclass(frozen=True)
class GgufHeader:
    """Everything sizer needs from a GGUF header. Metadata counts are None where the file has no key."""

    file_name: str
    version: int
    byte_order: str  # "little" or "big"
    metadata: Mapping[str, MetaValue] = field(repr=False)
    tensors: tuple[GgufTensor, ...] = field(repr=False)
    alignment: int
    header_bytes: int  # offset where the tensor data section begins
    tensor_data_bytes: int  # sum of tensor sizes, each padded to the alignment
    file_bytes: int

    architecture: Optional[str] = None
    name: Optional[str] = None
    file_type: Optional[str] = None  # "Q4_K_M", "F16", "BF16", … (LlamaFileType without MOSTLY_)
    file_type_id: Optional[int] = None

    block_count: Optional[int] = None
    context_length: Optional[int] = None
    embedding_length: Optional[int] = None
    feed_forward_length: Union[int, tuple[int, ...], None] = None  # per layer in some files
    head_count: Union[int, tuple[int, ...], None] = None
    head_count_kv: Union[int, tuple[int, ...], None] = None
    key_length: Optional[int] = None
    value_length: Optional[int] = None
    key_length_mla: Optional[int] = None
    value_length_mla: Optional[int] = None
    sliding_window: Optional[int] = None
    sliding_window_pattern: Union[int, tuple[bool, ...], None] = None
    expert_count: Optional[int] = None
    expert_used_count: Optional[int] = None
    expert_feed_forward_length: Optional[int] = None
    expert_shared_count: Optional[int] = None
    expert_shared_feed_forward_length: Optional[int] = None
    expert_gating_func: Optional[int] = None
    leading_dense_block_count: Optional[int] = None
    interleave_moe_layer_step: Optional[int] = None
    nextn_predict_layers: Optional[int] = None
    kv_lora_rank: Optional[int] = None
    q_lora_rank: Optional[int] = None
    rope_dimension_count: Optional[int] = None
    vocab_size: Optional[int] = None  # {arch}.vocab_size, else the tokenizer's token count
    token_count: Optional[int] = None  # length of tokenizer.ggml.tokens
    split_no: Optional[int] = None
    split_count: Optional[int] = None
    split_tensors_count: Optional[int] = None

    _by_name: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tensors})

    def tensor(self, name: str) -> Optional[GgufTensor]:
        return self._by_name.get(name)

    def get(self, key: str, default: object = None) -> object:
        return self.metadata.get(key, default)

    @property
    def parameter_count(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def data_complete(self) -> bool:
        """The file holds the whole tensor data section (False for a header-only prefix)."""
        return self.header_bytes + max((t.offset + t.n_bytes for t in self.tensors), default=0) <= self.file_bytes


# --------------------------------------------------------------------------- reading


class _Bad(Exception):
    """Internal: what is wrong, without the file name or the position (added by the caller)."""


class _Stream:
    """A bounded reader over a seekable binary file object, with its own small read buffer."""

    def __init__(self, f: BinaryIO, size: int, order: str = "<") -> None:
        self.f = f
        self.size = size
        self.order = order
        self._buf = b""
        self._i = 0  # read position inside _buf
        self._base = 0  # absolute offset of _buf[0]
        f.seek(0)

    @property
    def pos(self) -> int:
        return self._base + self._i

    @property
    def left(self) -> int:
        return self.size - self.pos

    def _fill(self, need: int) -> None:
        """Make at least ``need`` bytes available in the buffer (need <= left is checked by callers)."""
        have = len(self._buf) - self._i
        if have >= need:
            return
        want = max(need - have, min(_CHUNK, self.left - have))
        self.f.seek(self._base + len(self._buf))
        more = self.f.read(want)
        if len(more) < need - have:
            raise _Bad("truncated (the file shrank while being read)")
        self._base += self._i
        self._buf = self._buf[self._i :] + more
        self._i = 0

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise _Bad("truncated")
        self._fill(n)
        out = self._buf[self._i : self._i + n]
        self._i += n
        return out

    def skip(self, n: int) -> None:
        if n > self.left:
            raise _Bad("truncated")
        have = len(self._buf) - self._i
        if n <= have:
            self._i += n
        else:
            self._base = self.pos + n
            self._buf = b""
            self._i = 0

    def unpack(self, fmt: str) -> tuple:
        st = struct.Struct(self.order + fmt)
        return st.unpack(self.read(st.size))

    def u32(self) -> int:
        return self.unpack("I")[0]

    def u64(self) -> int:
        return self.unpack("Q")[0]

    def string_length(self, what: str) -> int:
        n = self.u64()
        if n > self.left:
            raise _Bad(f"{what} length {n} exceeds the {self.left} bytes left in the file")
        return n

    def string(self, what: str, limit: Optional[int] = None) -> bytes:
        n = self.string_length(what)
        if limit is not None and n > limit:
            raise _Bad(f"{what} is {n} bytes long (at most {limit})")
        return self.read(n)

    def scan_strings(self, count: int, keep: bool) -> Optional[tuple[str, ...]]:
        """Walk ``count`` strings; return them if ``keep`` and they are small enough, else None.

        The loop works on the read buffer directly: a 256k-token vocabulary takes ~0.1 s.
        """
        if count > MAX_STRING_ARRAY_ITEMS:
            raise _Bad(f"string array of {count} items is too long (at most {MAX_STRING_ARRAY_ITEMS})")
        if count * 8 > self.left:
            raise _Bad(f"array of {count} strings exceeds the {self.left} bytes left in the file")
        kept: Optional[list[bytes]] = [] if keep and count <= KEEP_STRING_ARRAY_ITEMS else None
        kept_bytes = 0
        unpack_len = struct.Struct(self.order + "Q").unpack_from
        size = self.size
        buf, i, base = self._buf, self._i, self._base
        for _ in range(count):
            if len(buf) - i < 8:
                self._buf, self._i, self._base = buf, i, base
                if self.left < 8:
                    raise _Bad("truncated")
                self._fill(8)
                buf, i, base = self._buf, self._i, self._base
            (n,) = unpack_len(buf, i)
            i += 8
            left = size - base - i
            if n > left:
                raise _Bad(f"string length {n} exceeds the {left} bytes left in the file")
            if kept is not None:
                kept_bytes += n
                if kept_bytes <= KEEP_STRING_ARRAY_BYTES:
                    self._buf, self._i, self._base = buf, i, base
                    kept.append(self.read(n))
                    buf, i, base = self._buf, self._i, self._base
                    continue
                kept = None
            if n <= len(buf) - i:
                i += n
            else:
                base, buf, i = base + i + n, b"", 0
        self._buf, self._i, self._base = buf, i, base
        if kept is None:
            return None
        return tuple(b.decode("utf-8", errors="replace") for b in kept)


def _shown(text: str) -> str:
    """Text from the file as it goes into a one-line message: escaped unless plainly printable."""
    return text if text.isprintable() else repr(text)[1:-1]


def _type_name(type_id: int) -> str:
    try:
        return GGUFValueType(type_id).name
    except ValueError:
        return str(type_id)


def _read_value(s: _Stream, vtype: int, key: str) -> MetaValue:
    if vtype == GGUFValueType.STRING:
        n = s.string_length("string")
        if n > KEEP_STRING_BYTES:
            s.skip(n)
            return SkippedString(n)
        return s.read(n).decode("utf-8", errors="replace")
    if vtype == GGUFValueType.ARRAY:
        etype = s.u32()
        count = s.u64()
        if etype == GGUFValueType.ARRAY:
            raise _Bad("nested arrays are not supported")
        if etype == GGUFValueType.STRING:
            kept = s.scan_strings(count, keep=key not in ALWAYS_SKIP)
            return kept if kept is not None else SkippedArray("STRING", count)
        fmt = _SCALAR_FORMATS.get(etype)
        if fmt is None:
            raise _Bad(f"unknown array element type {etype}")
        width = struct.calcsize(fmt)
        if count * width > s.left:
            raise _Bad(f"array of {count} {_type_name(etype)} exceeds the {s.left} bytes left in the file")
        if count > KEEP_ARRAY_ITEMS or key in ALWAYS_SKIP:
            s.skip(count * width)
            return SkippedArray(_type_name(etype), count)
        values = s.unpack(f"{count}{fmt}")
        if etype == GGUFValueType.BOOL:
            return tuple(bool(v) for v in values)
        return tuple(values)
    fmt = _SCALAR_FORMATS.get(vtype)
    if fmt is None:
        raise _Bad(f"unknown value type {vtype}")
    (value,) = s.unpack(fmt)
    return bool(value) if vtype == GGUFValueType.BOOL else value


def _ggml_type(type_id: int) -> tuple[str, int, int]:
    """(name, block size, bytes per block) of a ggml type id, or _Bad if unknown."""
    try:
        qt = GGMLQuantizationType(type_id)
        block, size = GGML_QUANT_SIZES[qt]
    except (ValueError, KeyError):
        raise _Bad(f"unknown ggml type {type_id}") from None
    return qt.name, block, size


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def read_gguf_header(path: Union[str, os.PathLike], *, check_data: bool = True) -> GgufHeader:
    """Read only the header of the GGUF file at ``path``.

    ``check_data`` (default): the file must also hold every tensor's bytes, so a truncated
    download is reported. Pass False to size from a header-only prefix of a file.
    Any problem (unreadable, not GGUF, malformed) raises :class:`InvalidInputError`.
    """
    name = Path(path).name
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return parse_gguf_header(f, name=name, size=size, check_data=check_data)
    except OSError as e:
        raise InvalidInputError(f"{_shown(name)}: cannot read the file ({e.strerror or e})") from None


def parse_gguf_header(
    f: BinaryIO, *, name: str = "<gguf>", size: Optional[int] = None, check_data: bool = True
) -> GgufHeader:
    """Read a GGUF header from a seekable binary file object (see :func:`read_gguf_header`)."""
    shown = _shown(name)
    try:
        if size is None:
            size = f.seek(0, io.SEEK_END)
        return _parse(f, name, size, check_data)
    except _Bad as e:
        raise InvalidInputError(f"{shown}: {e}") from None
    except OSError as e:
        raise InvalidInputError(f"{shown}: cannot read the file ({e.strerror or e})") from None
    except Exception as e:  # a bug of ours must still reach the user as one line
        detail = _shown(f"{type(e).__name__}: {e}")
        raise InvalidInputError(f"{shown}: unexpected error reading the GGUF header ({detail})") from None


def _parse(f: BinaryIO, name: str, size: int, check_data: bool) -> GgufHeader:
    s = _Stream(f, size)
    if size < 4 or s.read(4) != GGUF_MAGIC_BYTES:
        raise _Bad("not a GGUF file (bad magic)")
    try:
        (version,) = s.unpack("I")
        order = "<"
        if version not in SUPPORTED_VERSIONS:
            (swapped,) = struct.unpack(">I", struct.pack("<I", version))
            if swapped in SUPPORTED_VERSIONS:
                version, order = swapped, ">"
            else:
                raise _Bad(f"unsupported GGUF version {version} (sizer reads versions 2 and 3)")
        s.order = order
        n_tensors, n_kv = s.unpack("QQ")
    except _Bad as e:
        raise _Bad(f"{e} in the file header") from None
    # Smallest possible entries: a KV is key length (8) + type (4) + a 1-byte value;
    # a tensor info is name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
    if n_kv * 13 > s.left:
        raise _Bad(f"metadata count {n_kv} is impossible in a {size}-byte file")
    if n_tensors * 32 > s.left:
        raise _Bad(f"tensor count {n_tensors} is impossible in a {size}-byte file")

    meta: dict[str, MetaValue] = {}
    for i in range(n_kv):
        key = ""
        try:
            raw = s.string("key", limit=MAX_KEY_BYTES)
            try:
                key = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _Bad("key is not valid UTF-8") from None
            if key in meta:
                raise _Bad(f"duplicate key {key!r}")
            vtype = s.u32()
            meta[key] = _read_value(s, vtype, key)
        except _Bad as e:
            label = f" ({_shown(key)})" if key else ""
            msg = str(e)
            if msg == "truncated":
                raise _Bad(f"truncated in metadata entry {i + 1} of {n_kv}{label}") from None
            raise _Bad(f"{msg} in metadata entry {i + 1} of {n_kv}{label}") from None

    alignment = meta.get(Keys.General.ALIGNMENT, GGUF_DEFAULT_ALIGNMENT)
    if (
        not isinstance(alignment, int)
        or isinstance(alignment, bool)
        or alignment <= 0
        or alignment & (alignment - 1)
    ):
        raise _Bad(f"{Keys.General.ALIGNMENT} is {alignment!r}, expected a power of two")

    tensors: list[GgufTensor] = []
    seen: set[str] = set()
    for i in range(n_tensors):
        tname = ""
        try:
            raw = s.string("tensor name", limit=MAX_TENSOR_NAME_BYTES)
            try:
                tname = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _Bad("tensor name is not valid UTF-8") from None
            if tname in seen:
                raise _Bad(f"duplicate tensor name {tname!r}")
            seen.add(tname)
            (n_dims,) = s.unpack("I")
            if not 1 <= n_dims <= MAX_DIMS:
                raise _Bad(f"n_dims {n_dims} (must be 1 to {MAX_DIMS})")
            shape = s.unpack(f"{n_dims}q")
            if any(d < 0 for d in shape):
                raise _Bad(f"negative dimension in shape {list(shape)}")
            n_elements = 1
            for d in shape:
                n_elements *= d
            if n_elements >= 1 << 63:
                raise _Bad(f"shape {list(shape)} overflows 64 bits")
            type_id, offset = s.unpack("IQ")
            type_name, block, block_bytes = _ggml_type(type_id)
            if shape[0] % block:
                raise _Bad(f"row length {shape[0]} is not a multiple of the {type_name} block size {block}")
            if offset % alignment:
                raise _Bad(f"offset {offset} is not a multiple of the alignment {alignment}")
            n_bytes = n_elements // block * block_bytes
            tensors.append(GgufTensor(tname, tuple(shape), type_name, type_id, offset, n_elements, n_bytes))
        except _Bad as e:
            label = f" ({_shown(tname)})" if tname else ""
            msg = str(e)
            if msg == "truncated":
                raise _Bad(f"truncated in tensor info {i + 1} of {n_tensors}{label}") from None
            raise _Bad(f"{msg} in tensor info {i + 1} of {n_tensors}{label}") from None

    header_bytes = _align(s.pos, alignment)
    data_end = 0
    prev: Optional[GgufTensor] = None
    for t in sorted(tensors, key=lambda t: (t.offset, t.n_bytes)):
        if prev is not None and t.offset < prev.offset + prev.n_bytes:
            raise _Bad(f"tensors {_shown(prev.name)} and {_shown(t.name)} overlap in the data section")
        prev = t
        data_end = max(data_end, t.offset + t.n_bytes)
    if check_data and tensors and header_bytes + data_end > size:
        raise _Bad(
            f"truncated in the tensor data: the tensors need {header_bytes + data_end} bytes, the file has {size}"
        )
    tensor_data_bytes = sum(_align(t.n_bytes, alignment) for t in tensors)
    return _build_header(name, version, order, meta, tuple(tensors), alignment, header_bytes, tensor_data_bytes, size)


# --------------------------------------------------------------------------- typed metadata


def _count(meta: Mapping[str, MetaValue], key: str) -> Optional[int]:
    v = meta.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _Bad(f"{_shown(key)} is {v!r}, expected a non-negative integer")
    return v


def _count_or_layers(meta: Mapping[str, MetaValue], key: str) -> Union[int, tuple[int, ...], None]:
    v = meta.get(key)
    if isinstance(v, tuple):
        if not v or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in v):
            raise _Bad(f"{_shown(key)} is not an array of non-negative integers")
        return v
    if isinstance(v, SkippedArray):
        raise _Bad(f"{_shown(key)} has {v.length} items, more than any model has layers")
    return _count(meta, key)


def _text(meta: Mapping[str, MetaValue], key: str) -> Optional[str]:
    v = meta.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise _Bad(f"{_shown(key)} is not a string")
    return v


def _file_type_name(type_id: Optional[int]) -> Optional[str]:
    if type_id is None:
        return None
    try:
        ftype = LlamaFileType(type_id).name
    except ValueError:
        return None
    for prefix in ("MOSTLY_", "ALL_"):
        if ftype.startswith(prefix):
            return ftype[len(prefix) :]
    return ftype


def _build_header(
    name: str,
    version: int,
    order: str,
    meta: dict[str, MetaValue],
    tensors: tuple[GgufTensor, ...],
    alignment: int,
    header_bytes: int,
    tensor_data_bytes: int,
    size: int,
) -> GgufHeader:
    arch = _text(meta, Keys.General.ARCHITECTURE)
    a = arch or "?"
    swa_pattern = meta.get(Keys.Attention.SLIDING_WINDOW_PATTERN.format(arch=a))
    if isinstance(swa_pattern, tuple):
        swa_pattern = tuple(bool(x) for x in swa_pattern)
    elif swa_pattern is not None:
        swa_pattern = _count(meta, Keys.Attention.SLIDING_WINDOW_PATTERN.format(arch=a))
    tokens = meta.get(Keys.Tokenizer.LIST)
    token_count = len(tokens) if isinstance(tokens, tuple) else tokens.length if isinstance(tokens, SkippedArray) else None
    vocab_size = _count(meta, Keys.LLM.VOCAB_SIZE.format(arch=a))
    file_type_id = _count(meta, Keys.General.FILE_TYPE)

    def c(key_template: str) -> Optional[int]:
        return _count(meta, key_template.format(arch=a))

    return GgufHeader(
        file_name=name,
        version=version,
        byte_order="little" if order == "<" else "big",
        metadata=meta,
        tensors=tensors,
        alignment=alignment,
        header_bytes=header_bytes,
        tensor_data_bytes=tensor_data_bytes,
        file_bytes=size,
        architecture=arch,
        name=_text(meta, Keys.General.NAME),
        file_type=_file_type_name(file_type_id),
        file_type_id=file_type_id,
        block_count=c(Keys.LLM.BLOCK_COUNT),
        context_length=c(Keys.LLM.CONTEXT_LENGTH),
        embedding_length=c(Keys.LLM.EMBEDDING_LENGTH),
        feed_forward_length=_count_or_layers(meta, Keys.LLM.FEED_FORWARD_LENGTH.format(arch=a)),
        head_count=_count_or_layers(meta, Keys.Attention.HEAD_COUNT.format(arch=a)),
        head_count_kv=_count_or_layers(meta, Keys.Attention.HEAD_COUNT_KV.format(arch=a)),
        key_length=c(Keys.Attention.KEY_LENGTH),
        value_length=c(Keys.Attention.VALUE_LENGTH),
        key_length_mla=c(Keys.Attention.KEY_LENGTH_MLA),
        value_length_mla=c(Keys.Attention.VALUE_LENGTH_MLA),
        sliding_window=c(Keys.Attention.SLIDING_WINDOW),
        sliding_window_pattern=swa_pattern,
        expert_count=c(Keys.LLM.EXPERT_COUNT),
        expert_used_count=c(Keys.LLM.EXPERT_USED_COUNT),
        expert_feed_forward_length=c(Keys.LLM.EXPERT_FEED_FORWARD_LENGTH),
        expert_shared_count=c(Keys.LLM.EXPERT_SHARED_COUNT),
        expert_shared_feed_forward_length=c(Keys.LLM.EXPERT_SHARED_FEED_FORWARD_LENGTH),
        expert_gating_func=c(Keys.LLM.EXPERT_GATING_FUNC),
        leading_dense_block_count=c(Keys.LLM.LEADING_DENSE_BLOCK_COUNT),
        interleave_moe_layer_step=c(Keys.LLM.INTERLEAVE_MOE_LAYER_STEP),
        nextn_predict_layers=c(Keys.LLM.NEXTN_PREDICT_LAYERS),
        kv_lora_rank=c(Keys.Attention.KV_LORA_RANK),
        q_lora_rank=c(Keys.Attention.Q_LORA_RANK),
        rope_dimension_count=c(Keys.Rope.DIMENSION_COUNT),
        vocab_size=vocab_size if vocab_size is not None else token_count,
        token_count=token_count,
        split_no=_count(meta, Keys.Split.LLM_KV_SPLIT_NO),
        split_count=_count(meta, Keys.Split.LLM_KV_SPLIT_COUNT),
        split_tensors_count=_count(meta, Keys.Split.LLM_KV_SPLIT_TENSORS_COUNT),
    )


# --------------------------------------------------------------------------- GGUF -> ModelEntry

# How each supported GGUF architecture maps onto ModelEntry. The sliding-window rules mirror
# llama.cpp's per-architecture hparams loaders (src/llama-model.cpp, src/models/<arch>.cpp):
#   swa "always":    windowed layers always; window from the key, else default_window.
#   swa "if-window": windowed layers only when {arch}.attention.sliding_window > 0 (gemma3).
#   swa "chunked":   chunked attention, chunk default_window, unless sliding_window == 0 (llama4).
#   swa None:        every layer full attention (llama.cpp ignores Mistral-7B's and disables Phi-3's window).
# The period comes from {arch}.attention.sliding_window_pattern when present, else default_period;
# as in llama_hparams::set_swa_pattern, layer il is windowed when il % period < period - 1.


@dataclass(frozen=True)
class _Arch:
    model_type: str  # Hugging Face model_type of the original weights
    family: str
    norm_per_layer: int = 2
    swa: Optional[str] = None
    default_period: int = 0
    default_window: Optional[int] = None


_ARCHS: dict[str, _Arch] = {
    "llama": _Arch("llama", "llama"),
    "qwen2": _Arch("qwen2", "qwen"),
    "qwen3": _Arch("qwen3", "qwen"),
    "qwen3moe": _Arch("qwen3_moe", "qwen"),
    "gemma2": _Arch("gemma2", "gemma", norm_per_layer=4, swa="always", default_period=2, default_window=4096),
    "gemma3": _Arch("gemma3_text", "gemma", norm_per_layer=4, swa="if-window", default_period=6),
    "phi3": _Arch("phi3", "phi"),
    "deepseek2": _Arch("deepseek_v2", "deepseek"),
    "gpt-oss": _Arch("gpt_oss", "gpt-oss", swa="always", default_period=2),
    "llama4": _Arch("llama4_text", "llama", swa="chunked", default_period=4, default_window=8192),
}
SUPPORTED_ARCHITECTURES = tuple(_ARCHS)

_MISTRAL_NAME = re.compile(r"mistral|mixtral|ministral|codestral|devstral|magistral|pixtral", re.IGNORECASE)
_HF_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/([A-Za-z0-9][\w.\-]*/[\w.\-]+?)(?:\.git)?/?$")


def _one(value: Union[int, tuple[int, ...], None], what: str, notes: list[str]) -> Optional[int]:
    """A per-layer array as one number for ModelEntry: its largest entry (noted when they differ)."""
    if not isinstance(value, tuple):
        return value
    nonzero = {v for v in value if v}
    if len(nonzero) > 1:
        notes.append(f"{what} varies per layer ({min(nonzero)}-{max(nonzero)}); the largest is used")
    return max(value)


def _period_pattern(period: int, letter: str) -> Optional[str]:
    if period == 0:
        return letter  # llama.cpp: a period of 0 makes every layer windowed
    if period == 1:
        return None
    return letter * (period - 1) + "F"


def _bool_pattern(flags: tuple[bool, ...]) -> Optional[str]:
    """Per-layer windowed flags as the shortest cyclic pattern that reproduces them."""
    s = "".join("S" if b else "F" for b in flags)
    if "S" not in s:
        return None
    for p in range(1, len(s) + 1):
        if all(s[i] == s[i % p] for i in range(len(s))):
            return s[:p]
    return s


def _hf_repo(meta: Mapping[str, MetaValue]) -> str:
    for key in (
        Keys.General.SOURCE_REPO_URL,
        Keys.General.SOURCE_URL,
        Keys.General.BASE_MODEL_REPO_URL.format(id=0),
        Keys.General.REPO_URL,
        Keys.General.URL,
    ):
        v = meta.get(key)
        if isinstance(v, str):
            m = _HF_URL.match(v.strip())
            if m:
                return m.group(1)
    return ""


def _slug(*candidates: Optional[str]) -> str:
    for c in candidates:
        if c:
            s = re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", slugify(c))
            if len(s) >= 2:
                return s
    return "gguf-model"


def _first_tensor(header: GgufHeader, pattern: str) -> Optional[GgufTensor]:
    rx = re.compile(pattern)
    for t in header.tensors:
        if rx.fullmatch(t.name):
            return t
    return None


def model_entry_from_gguf(header: GgufHeader) -> ModelEntry:
    """Normalize a GGUF header into a ModelEntry, as if read from the model's config.json.

    Raises UnsupportedError for an architecture outside SUPPORTED_ARCHITECTURES and
    InvalidInputError (naming the file) when a needed key is missing or inconsistent.
    """
    try:
        return _model_entry(header)
    except _Bad as e:
        raise InvalidInputError(f"{_shown(header.file_name)}: {e}") from None


def _need(value: Optional[int], key: str) -> int:
    if not value:
        raise _Bad(f"missing or zero {_shown(key)}")
    return value


def _model_entry(h: GgufHeader) -> ModelEntry:
    arch = h.architecture
    if arch is None:
        raise _Bad(f"no {Keys.General.ARCHITECTURE} in the metadata")
    spec = _ARCHS.get(arch)
    if spec is None:
        raise UnsupportedError(
            f"{_shown(h.file_name)}: GGUF architecture '{_shown(arch)}' is not supported "
            f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})"
        )
    notes: list[str] = []
    k = lambda template: template.format(arch=arch)  # noqa: E731

    layers = _need(h.block_count, k(Keys.LLM.BLOCK_COUNT))
    hidden = _need(h.embedding_length, k(Keys.LLM.EMBEDDING_LENGTH))
    max_context = _need(h.context_length, k(Keys.LLM.CONTEXT_LENGTH))
    heads = _need(_one(h.head_count, "attention.head_count", notes), k(Keys.Attention.HEAD_COUNT))
    kv_heads = _one(h.head_count_kv, "attention.head_count_kv", notes) or heads
    intermediate = _one(h.feed_forward_length, "feed_forward_length", notes) or 0

    # Multi-token-prediction blocks shipped at the end of the stack (not counted by HF's num_hidden_layers).
    mtp = h.nextn_predict_layers or 0
    if mtp and 0 < mtp < layers and any(t.name.startswith(f"blk.{layers - 1}.nextn.") for t in h.tensors):
        layers -= mtp
    else:
        mtp = 0

    # Attention shape; MLA (DeepSeek-V2/V3) keeps the decompressed head sizes in *_mla keys in
    # newer files (key_length is then kv_lora_rank + rope dims and head_count_kv is 1).
    mla: dict[str, Optional[int]] = {}
    if h.kv_lora_rank:
        rope = _need(h.rope_dimension_count, k(Keys.Rope.DIMENSION_COUNT))
        k_mla = _need(h.key_length_mla or h.key_length, k(Keys.Attention.KEY_LENGTH))
        v_mla = _need(h.value_length_mla or h.value_length, k(Keys.Attention.VALUE_LENGTH))
        if k_mla <= rope:
            raise _Bad(f"MLA key length {k_mla} is not larger than the rope dimensions {rope}")
        mla = dict(
            q_lora_rank=h.q_lora_rank or None,
            kv_lora_rank=h.kv_lora_rank,
            qk_rope_head_dim=rope,
            qk_nope_head_dim=k_mla - rope,
            v_head_dim=v_mla,
        )
        head_dim = k_mla
        kv_heads = heads  # the uncompressed view, as config.json's num_key_value_heads
    else:
        head_dim = h.key_length or hidden // heads
        if not head_dim:
            raise _Bad(f"cannot tell the head size (no {k(Keys.Attention.KEY_LENGTH)}, and {hidden} / {heads} is 0)")

    # Sliding-window / chunked attention.
    window: Optional[int] = None
    chunk: Optional[int] = None
    pattern: Optional[str] = None
    letter = "C" if spec.swa == "chunked" else "S"
    if spec.swa == "always" or (spec.swa == "if-window" and h.sliding_window):
        window = h.sliding_window or spec.default_window
        if not window:
            raise _Bad(f"missing {k(Keys.Attention.SLIDING_WINDOW)}")
    elif spec.swa == "chunked" and not (h.sliding_window is not None and h.sliding_window == 0):
        chunk = spec.default_window
    if window or chunk:
        p = h.sliding_window_pattern
        if isinstance(p, tuple):
            if len(p) != h.block_count:
                notes.append(f"sliding_window_pattern has {len(p)} entries for {h.block_count} layers")
            pattern = _bool_pattern(p)
            if pattern:
                pattern = pattern.replace("S", letter)
        else:
            pattern = _period_pattern(spec.default_period if p is None else p, letter)
        if pattern is None:
            window = chunk = None

    # Mixture of experts.
    moe: dict[str, Any] = {}
    if h.expert_count:
        used = _need(h.expert_used_count, k(Keys.LLM.EXPERT_USED_COUNT))
        exps = _first_tensor(h, r"blk\.\d+\.ffn_(?:up|gate)_exps\.weight")
        moe_ff = h.expert_feed_forward_length or (exps.shape[1] if exps and len(exps.shape) >= 2 else intermediate)
        if not moe_ff:
            raise _Bad(f"missing {k(Keys.LLM.EXPERT_FEED_FORWARD_LENGTH)}")
        shexp = _first_tensor(h, r"blk\.\d+\.ffn_(?:up|gate)_shexp\.weight")
        n_shared = h.expert_shared_count or (1 if shexp else 0)
        shared_ff: Optional[int] = None
        if shexp and len(shexp.shape) >= 2:
            shared_ff = shexp.shape[1]
        elif n_shared:
            shared_ff = h.expert_shared_feed_forward_length or None
        moe = dict(
            num_experts=h.expert_count,
            num_experts_per_token=used,
            moe_intermediate_size=moe_ff,
            num_shared_experts=n_shared,
            shared_expert_intermediate_size=shared_ff,
            first_dense_layers=h.leading_dense_block_count or 0,
            moe_layer_step=h.interleave_moe_layer_step or 1,
            expert_bias=_first_tensor(h, r"blk\.\d+\.ffn_(?:up|gate|down)_exps\.bias") is not None,
        )

    # Names, family, Hugging Face model_type.
    stem = h.file_name[: -len(".gguf")] if h.file_name.lower().endswith(".gguf") else h.file_name
    display = h.name or _text(h.metadata, Keys.General.BASENAME) or stem
    family, model_type = spec.family, spec.model_type
    if arch == "llama":
        label = " ".join(x for x in (h.name, _text(h.metadata, Keys.General.BASENAME), stem) if x)
        if _MISTRAL_NAME.search(label):
            family, model_type = "mistral", "mistral"
        if h.expert_count:
            model_type = "mixtral"
    elif arch == "deepseek2" and h.expert_gating_func == ExpertGatingFuncType.SIGMOID:
        model_type = "deepseek_v3"

    # Embedding rows are what the weights hold (tokenizer lists can be shorter than padded vocabularies).
    embd = h.tensor("token_embd.weight")
    vocab = embd.shape[1] if embd is not None and len(embd.shape) >= 2 else h.vocab_size
    if not vocab:
        raise _Bad(f"cannot tell the vocabulary size (no token_embd.weight, {Keys.Tokenizer.LIST} or {k(Keys.LLM.VOCAB_SIZE)})")

    if h.split_count and h.split_count > 1:
        notes.append(
            f"split GGUF part {(h.split_no or 0) + 1} of {h.split_count}: tied embeddings and biases were judged "
            "from this part's tensors only"
        )
    ftype = h.file_type or "of unknown file type"
    notes.insert(0, f"GGUF {ftype}, {len(h.tensors)} tensors, {h.tensor_data_bytes} bytes of weights")

    fields: dict[str, Any] = dict(
        id=_slug(stem, h.name),
        name=display,
        family=family,
        hf_repo=_hf_repo(h.metadata),
        license=_text(h.metadata, Keys.General.LICENSE),
        architecture=model_type,
        num_layers=layers,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        tie_word_embeddings=h.tensor("output.weight") is None,
        max_context=max_context,
        attention_bias=h.tensor("blk.0.attn_q.bias") is not None or h.tensor("blk.0.attn_qkv.bias") is not None,
        qk_norm=h.tensor("blk.0.attn_q_norm.weight") is not None,
        mlp_gated=True,
        norm_per_layer=spec.norm_per_layer,
        sliding_window=window,
        attention_chunk_size=chunk,
        layer_pattern=pattern,
        mtp_layers=mtp,
        torch_dtype=None,
        params_total=float(h.parameter_count) if h.tensors else None,
        source=h.file_name,
        notes="; ".join(notes),
        **moe,
        **mla,
    )
    try:
        return ModelEntry(**fields)
    except ValueError as e:  # pydantic.ValidationError is a ValueError
        errors = getattr(e, "errors", None)
        if callable(errors):
            first = errors()[0]
            loc = ".".join(str(x) for x in first.get("loc", ())) or "model"
            problem = f"{loc}: {first.get('msg')}"
        else:
            problem = str(e)
        raise _Bad(f"metadata does not describe a valid model: {_shown(problem)}") from None
