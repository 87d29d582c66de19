"""GGUF header reading and the GGUF -> ModelEntry mapping (sizer.estimate.gguf_file).

Valid files are written with gguf-py's GGUFWriter (tensor data of zero bytes, of the right size);
broken ones are crafted byte by byte. Expected byte sizes are written out by hand from the ggml
block layouts (Q4_K: 256 values in 144 bytes, Q6_K: 256 in 210, Q8_0: 32 in 34) so that they
check the package's table rather than repeat it.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter
from gguf.constants import (
    GGML_QUANT_SIZES,
    ExpertGatingFuncType,
    GGMLQuantizationType,
    GGUFEndian,
    LlamaFileType,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sizer.errors import InvalidInputError, SizerError, UnsupportedError
from sizer.estimate.gguf_file import (
    GgufHeader,
    SkippedArray,
    model_entry_from_gguf,
    parse_gguf_header,
    read_gguf_header,
)
from sizer.types import ModelEntry
from tests.conftest import ground_truth

Q = GGMLQuantizationType
Tensor = tuple[str, Sequence[int], GGMLQuantizationType]

Q4_K_ROW_256 = 144  # bytes of one 256-value Q4_K block
Q6_K_ROW_256 = 210
Q8_0_BLOCK_32 = 34


# --------------------------------------------------------------------------- writing real files


def write_gguf(
    path: Path,
    arch: str,
    meta: Callable[[GGUFWriter], None],
    tensors: Sequence[Tensor],
    *,
    endianess: GGUFEndian = GGUFEndian.LITTLE,
) -> Path:
    """A GGUF file whose tensors (shapes in ggml order) hold zero bytes of their exact size."""
    w = GGUFWriter(path, arch, endianess=endianess)
    meta(w)
    for name, shape, qt in tensors:
        block, size = GGML_QUANT_SIZES[qt]
        byte_shape = (*reversed(shape[1:]), shape[0] // block * size)
        w.add_tensor(name, np.zeros(byte_shape, dtype=np.uint8), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def dense_tensors(
    *,
    layers: int = 2,
    hidden: int = 256,
    ff: int = 512,
    heads: int = 4,
    kv: int = 2,
    head_dim: int = 64,
    vocab: int = 512,
    tied: bool = False,
    biases: bool = False,
    qk_norm: bool = False,
    post_norms: bool = False,
) -> list[Tensor]:
    t: list[Tensor] = [("token_embd.weight", (hidden, vocab), Q.Q8_0), ("output_norm.weight", (hidden,), Q.F32)]
    if not tied:
        t.append(("output.weight", (hidden, vocab), Q.Q6_K))
    for i in range(layers):
        b = f"blk.{i}."
        t += [
            (b + "attn_norm.weight", (hidden,), Q.F32),
            (b + "attn_q.weight", (hidden, heads * head_dim), Q.Q4_K),
            (b + "attn_k.weight", (hidden, kv * head_dim), Q.Q4_K),
            (b + "attn_v.weight", (hidden, kv * head_dim), Q.Q6_K),
            (b + "attn_output.weight", (heads * head_dim, hidden), Q.Q4_K),
            (b + "ffn_norm.weight", (hidden,), Q.F32),
            (b + "ffn_gate.weight", (hidden, ff), Q.Q4_K),
            (b + "ffn_up.weight", (hidden, ff), Q.Q4_K),
            (b + "ffn_down.weight", (ff, hidden), Q.Q6_K),
        ]
        if biases:
            t += [
                (b + "attn_q.bias", (heads * head_dim,), Q.F32),
                (b + "attn_k.bias", (kv * head_dim,), Q.F32),
                (b + "attn_v.bias", (kv * head_dim,), Q.F32),
            ]
        if qk_norm:
            t += [(b + "attn_q_norm.weight", (head_dim,), Q.F32), (b + "attn_k_norm.weight", (head_dim,), Q.F32)]
        if post_norms:
            t += [(b + "post_attention_norm.weight", (hidden,), Q.F32), (b + "post_ffw_norm.weight", (hidden,), Q.F32)]
    return t


def moe_tensors(
    layers: Sequence[int], *, hidden: int = 256, moe_ff: int = 256, experts: int = 4, shared_ff: int = 0, bias: bool = False
) -> list[Tensor]:
    t: list[Tensor] = []
    for i in layers:
        b = f"blk.{i}."
        t += [
            (b + "ffn_gate_inp.weight", (hidden, experts), Q.F32),
            (b + "ffn_gate_exps.weight", (hidden, moe_ff, experts), Q.Q4_K),
            (b + "ffn_up_exps.weight", (hidden, moe_ff, experts), Q.Q4_K),
            (b + "ffn_down_exps.weight", (moe_ff, hidden, experts), Q.Q6_K),
        ]
        if shared_ff:
            t += [
                (b + "ffn_gate_shexp.weight", (hidden, shared_ff), Q.Q4_K),
                (b + "ffn_up_shexp.weight", (hidden, shared_ff), Q.Q4_K),
                (b + "ffn_down_shexp.weight", (shared_ff, hidden), Q.Q6_K),
            ]
        if bias:
            t += [
                (b + "ffn_gate_exps.bias", (moe_ff, experts), Q.F32),
                (b + "ffn_up_exps.bias", (moe_ff, experts), Q.F32),
                (b + "ffn_down_exps.bias", (hidden, experts), Q.F32),
            ]
    return t


def llama_meta(
    w: GGUFWriter,
    *,
    name: str = "Tiny Llama 3",
    layers: int = 2,
    hidden: int = 256,
    ff: int = 512,
    heads: int = 4,
    kv: int | Sequence[int] = 2,
    context: int = 8192,
    vocab: int = 512,
    key_length: Optional[int] = None,
    file_type: LlamaFileType = LlamaFileType.MOSTLY_Q4_K_M,
) -> None:
    w.add_name(name)
    w.add_file_type(file_type)
    w.add_block_count(layers)
    w.add_context_length(context)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(hidden // heads)
    w.add_layer_norm_rms_eps(1e-5)
    if key_length:
        w.add_key_length(key_length)
        w.add_value_length(key_length)
    w.add_token_list([f"<t{i}>" for i in range(vocab)])
    w.add_token_scores([0.0] * vocab)


@pytest.fixture(scope="module")
def llama_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "Tiny-Llama-3-Q4_K_M.gguf"
    return write_gguf(path, "llama", llama_meta, dense_tensors())


@pytest.fixture(scope="module")
def llama(llama_path: Path) -> GgufHeader:
    return read_gguf_header(llama_path)


# --------------------------------------------------------------------------- header: a tiny llama


def test_reads_version_byte_order_and_tensor_count(llama: GgufHeader) -> None:
    assert (llama.version, llama.byte_order, len(llama.tensors)) == (3, "little", 3 + 2 * 9)


def test_reads_architecture_and_name(llama: GgufHeader) -> None:
    assert (llama.architecture, llama.name) == ("llama", "Tiny Llama 3")


def test_file_type_is_the_llama_file_type_name_without_mostly(llama: GgufHeader) -> None:
    assert (llama.file_type, llama.file_type_id) == ("Q4_K_M", 15)


def test_reads_the_numeric_metadata_used_for_sizing(llama: GgufHeader) -> None:
    got = (
        llama.block_count,
        llama.context_length,
        llama.embedding_length,
        llama.feed_forward_length,
        llama.head_count,
        llama.head_count_kv,
        llama.rope_dimension_count,
    )
    assert got == (2, 8192, 256, 512, 4, 2, 64)


def test_absent_metadata_reads_as_none(llama: GgufHeader) -> None:
    assert (llama.expert_count, llama.sliding_window, llama.kv_lora_rank, llama.key_length) == (None, None, None, None)


def test_vocab_size_is_the_token_list_length(llama: GgufHeader) -> None:
    assert (llama.vocab_size, llama.token_count) == (512, 512)


def test_token_list_is_recorded_by_length_not_materialized(llama: GgufHeader) -> None:
    assert llama.metadata["tokenizer.ggml.tokens"] == SkippedArray("STRING", 512)
    assert llama.metadata["tokenizer.ggml.scores"] == SkippedArray("FLOAT32", 512)


def test_vocab_size_key_counts_when_there_is_no_token_list(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        w.add_block_count(1)
        w.add_vocab_size(32000)

    h = read_gguf_header(write_gguf(tmp_path / "m.gguf", "llama", meta, []))
    assert (h.vocab_size, h.token_count) == (32000, None)


def test_tensor_shapes_are_in_ggml_order(llama: GgufHeader) -> None:
    assert llama.tensor("blk.0.ffn_down.weight").shape == (512, 256)
    assert llama.tensor("token_embd.weight").shape == (256, 512)


def test_tensor_types_and_exact_byte_sizes(llama: GgufHeader) -> None:
    sizes = {t.name: (t.type_name, t.n_bytes) for t in llama.tensors}
    assert sizes["token_embd.weight"] == ("Q8_0", 512 * (256 // 32) * Q8_0_BLOCK_32)
    assert sizes["blk.1.attn_k.weight"] == ("Q4_K", 128 * Q4_K_ROW_256)
    assert sizes["blk.1.ffn_down.weight"] == ("Q6_K", 256 * 2 * Q6_K_ROW_256)
    assert sizes["output_norm.weight"] == ("F32", 256 * 4)


def test_element_counts_and_parameter_count(llama: GgufHeader) -> None:
    per_layer = 256 + 256 * 256 + 2 * 256 * 128 + 256 * 256 + 256 + 3 * 256 * 512
    assert llama.parameter_count == 2 * 256 * 512 + 256 + 2 * per_layer


def test_header_bytes_is_where_the_tensor_data_begins(llama: GgufHeader, llama_path: Path) -> None:
    assert llama.header_bytes == GGUFReader(llama_path).data_offset
    assert llama.header_bytes % 32 == 0


def test_file_bytes_is_the_file_size(llama: GgufHeader, llama_path: Path) -> None:
    assert llama.file_bytes == llama_path.stat().st_size


def test_tensor_data_bytes_is_the_data_section_of_the_file(llama: GgufHeader) -> None:
    assert llama.tensor_data_bytes == llama.file_bytes - llama.header_bytes


def test_agrees_with_gguf_reader_on_every_tensor(llama: GgufHeader, llama_path: Path) -> None:
    reader = GGUFReader(llama_path)
    theirs = [(t.name, tuple(int(d) for d in t.shape), t.tensor_type.name, t.n_bytes, t.data_offset) for t in reader.tensors]
    ours = [(t.name, t.shape, t.type_name, t.n_bytes, llama.header_bytes + t.offset) for t in llama.tensors]
    assert ours == theirs


def test_tensor_data_bytes_pads_each_tensor_to_the_alignment(tmp_path: Path) -> None:
    tensors = [("a", (5,), Q.F32), ("b", (3,), Q.F16), ("c", (32,), Q.Q8_0)]
    h = read_gguf_header(write_gguf(tmp_path / "m.gguf", "llama", lambda w: None, tensors))
    assert [t.n_bytes for t in h.tensors] == [20, 6, 34]
    assert h.tensor_data_bytes == 32 + 32 + 64


def test_general_alignment_is_honoured(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        w.add_custom_alignment(128)

    h = read_gguf_header(write_gguf(tmp_path / "m.gguf", "llama", meta, [("a", (5,), Q.F32), ("b", (7,), Q.F32)]))
    assert (h.alignment, h.header_bytes % 128, h.tensor_data_bytes) == (128, 0, 256)


def test_reads_big_endian_files(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "be.gguf", "llama", llama_meta, dense_tensors(layers=1), endianess=GGUFEndian.BIG)
    h = read_gguf_header(path)
    assert (h.byte_order, h.block_count, h.vocab_size, h.tensor("blk.0.ffn_down.weight").shape) == ("big", 2, 512, (512, 256))


def test_per_layer_kv_head_counts_are_kept_as_a_tuple(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", "llama", lambda w: llama_meta(w, kv=[2, 4]), dense_tensors(tied=True))
    assert read_gguf_header(path).head_count_kv == (2, 4)


def test_a_header_only_prefix_reads_when_data_is_not_checked(llama_path: Path, tmp_path: Path, llama: GgufHeader) -> None:
    prefix = tmp_path / "prefix.gguf"
    prefix.write_bytes(llama_path.read_bytes()[: llama.header_bytes])
    h = read_gguf_header(prefix, check_data=False)
    assert (h.tensor_data_bytes, h.file_bytes, h.data_complete) == (llama.tensor_data_bytes, llama.header_bytes, False)


def test_a_truncated_download_is_reported(llama_path: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(llama_path.read_bytes()[:-100])
    with pytest.raises(InvalidInputError, match=r"^cut\.gguf: truncated in the tensor data"):
        read_gguf_header(cut)


def test_parses_from_a_file_object(llama_path: Path, llama: GgufHeader) -> None:
    h = parse_gguf_header(io.BytesIO(llama_path.read_bytes()), name="mem.gguf")
    assert (h.file_name, h.header_bytes, h.tensor_data_bytes) == ("mem.gguf", llama.header_bytes, llama.tensor_data_bytes)


def _vocab_file(path: Path, n: int) -> Path:
    tokens = b"".join(struct.pack("<Q", len(t)) + t for t in (f"tok{i}".encode() for i in range(n)))
    kv = _kv_str("general.architecture", "llama") + _s(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, n) + tokens
    path.write_bytes(_gguf(kv, n_kv=2))
    return path


def test_a_256k_token_vocabulary_reads_in_well_under_a_second(tmp_path: Path) -> None:
    path = _vocab_file(tmp_path / "vocab.gguf", 256_000)
    start = time.perf_counter()
    h = read_gguf_header(path)
    assert h.vocab_size == 256_000 and time.perf_counter() - start < 1.0  # ~0.05 s here


@pytest.mark.parametrize("n", [1_000, 50_000])
def test_skipping_the_token_list_takes_the_same_small_memory_whatever_its_length(tmp_path: Path, n: int) -> None:
    path = _vocab_file(tmp_path / "vocab.gguf", n)
    tracemalloc.start()
    try:
        h = read_gguf_header(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert h.vocab_size == n and peak < 512 << 10  # ~0.2 MB: the read buffer, not the tokens


# --------------------------------------------------------------------------- crafted broken headers


def _s(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b


def _kv_u32(key: str, v: int) -> bytes:
    return _s(key.encode()) + struct.pack("<II", 4, v)


def _kv_str(key: str, v: str) -> bytes:
    return _s(key.encode()) + struct.pack("<I", 8) + _s(v.encode())


def _ti(name: str, dims: Sequence[int], type_id: int = 0, offset: int = 0) -> bytes:
    return _s(name.encode()) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, type_id, offset)


def _gguf(body: bytes = b"", *, n_kv: int = 0, n_tensors: int = 0, version: int = 3, magic: bytes = b"GGUF") -> bytes:
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv) + body


def _read(tmp_path: Path, data: bytes, name: str = "model.gguf") -> GgufHeader:
    path = tmp_path / name
    path.write_bytes(data)
    return read_gguf_header(path)


ARCH = _kv_str("general.architecture", "llama")


def test_bad_magic(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: not a GGUF file \(bad magic\)$"):
        _read(tmp_path, _gguf(ARCH, n_kv=1, magic=b"GGML") + b"\0" * 40)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="bad magic"):
        _read(tmp_path, b"")


def test_unsupported_version(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: unsupported GGUF version 99 "):
        _read(tmp_path, _gguf(ARCH, n_kv=1, version=99) + b"\0" * 40)


def test_version_1_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unsupported GGUF version 1 "):
        _read(tmp_path, _gguf(ARCH, n_kv=1, version=1) + b"\0" * 40)


def test_truncated_in_the_file_header(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: truncated in the file header$"):
        _read(tmp_path, b"GGUF" + struct.pack("<IQ", 3, 0))


def test_truncated_in_metadata(tmp_path: Path) -> None:
    data = _gguf(ARCH + _kv_u32("llama.block_count", 32) + _kv_u32("llama.context_length", 8192), n_kv=3)
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: truncated in metadata entry 3 of 3 \(llama\.context_length\)$"):
        _read(tmp_path, data[:-2])


def test_string_length_larger_than_the_file(tmp_path: Path) -> None:
    data = _gguf(_s(b"general.name") + struct.pack("<IQ", 8, 2**62) + b"x" * 40, n_kv=1)
    assert len(data) < 100
    expected = r"string length 4611686018427387904 exceeds the 40 bytes left .* metadata entry 1 of 1"
    with pytest.raises(InvalidInputError, match=expected):
        _read(tmp_path, data)


def test_key_length_larger_than_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"key length 18446744073709551615 exceeds"):
        _read(tmp_path, _gguf(struct.pack("<Q", 2**64 - 1) + b"k" * 40, n_kv=1))


def test_array_count_larger_than_the_file(tmp_path: Path) -> None:
    data = _gguf(_s(b"llama.head_count_kv") + struct.pack("<IIQ", 9, 4, 2**40) + b"\0" * 40, n_kv=1)
    with pytest.raises(InvalidInputError, match=r"array of 1099511627776 UINT32 exceeds the 40 bytes left"):
        _read(tmp_path, data)


def test_string_array_count_larger_than_the_file(tmp_path: Path) -> None:
    data = _gguf(_s(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 1000) + _s(b"a") * 3, n_kv=1)
    with pytest.raises(InvalidInputError, match=r"array of 1000 strings exceeds"):
        _read(tmp_path, data)


def test_nested_arrays_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="nested arrays are not supported"):
        _read(tmp_path, _gguf(_s(b"x") + struct.pack("<IIQ", 9, 9, 1) + b"\0" * 40, n_kv=1))


def test_unknown_value_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown value type 42 in metadata entry 1 of 1 \(x\)"):
        _read(tmp_path, _gguf(_s(b"x") + struct.pack("<I", 42) + b"\0" * 40, n_kv=1))


def test_duplicate_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="duplicate key 'general.architecture' in metadata entry 2 of 2"):
        _read(tmp_path, _gguf(ARCH + ARCH, n_kv=2))


def test_metadata_count_impossible_for_the_file_size(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"metadata count 1000000 is impossible in a \d+-byte file"):
        _read(tmp_path, _gguf(ARCH, n_kv=1_000_000))


def test_tensor_count_impossible_for_the_file_size(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"tensor count 18446744073709551615 is impossible"):
        _read(tmp_path, _gguf(ARCH, n_kv=1, n_tensors=2**64 - 1))


def test_n_dims_above_four(tmp_path: Path) -> None:
    data = _gguf(_ti("t", [1] * 9), n_tensors=1)
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: n_dims 9 \(must be 1 to 4\) in tensor info 1 of 1 \(t\)$"):
        _read(tmp_path, data)


@pytest.mark.parametrize("n_dims", [0, 5])
def test_n_dims_outside_one_to_four(tmp_path: Path, n_dims: int) -> None:
    with pytest.raises(InvalidInputError, match=rf"n_dims {n_dims} \(must be 1 to 4\)"):
        _read(tmp_path, _gguf(_ti("t", [1] * n_dims), n_tensors=1) + b"\0" * 64)


def test_four_dims_are_allowed(tmp_path: Path) -> None:
    h = _read(tmp_path, _gguf(_ti("t", [8, 2, 1, 1]), n_tensors=1) + b"\0" * (15 + 64))  # pad to 96, then data
    assert (h.tensors[0].shape, h.tensors[0].n_bytes) == ((8, 2, 1, 1), 64)


def test_unknown_ggml_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown ggml type 99 in tensor info 1 of 1 \(t\)"):
        _read(tmp_path, _gguf(_ti("t", [32], type_id=99), n_tensors=1) + b"\0" * 64)


def test_removed_ggml_types_are_unknown(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown ggml type 31"):  # Q4_0_4_4, gone from gguf files
        _read(tmp_path, _gguf(_ti("t", [32], type_id=31), n_tensors=1) + b"\0" * 64)


def test_truncated_in_tensor_info(tmp_path: Path) -> None:
    data = _gguf(ARCH + b"".join(_ti(f"t{i}", [8], offset=32 * i) for i in range(3)), n_kv=1, n_tensors=3)
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: truncated in tensor info 3 of 3 \(t2\)$"):
        _read(tmp_path, data[:-5])


def test_tensor_name_too_long(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="tensor name is 100 bytes long"):
        _read(tmp_path, _gguf(_ti("n" * 100, [4]), n_tensors=1) + b"\0" * 64)


def test_duplicate_tensor_name(tmp_path: Path) -> None:
    data = _gguf(_ti("t", [8]) + _ti("t", [8], offset=32), n_tensors=2) + b"\0" * 128
    with pytest.raises(InvalidInputError, match="duplicate tensor name 't' in tensor info 2 of 2"):
        _read(tmp_path, data)


def test_negative_dimension(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="negative dimension"):
        _read(tmp_path, _gguf(_ti("t", [2**64 - 1]), n_tensors=1) + b"\0" * 64)


def test_element_count_overflowing_64_bits(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="overflows 64 bits"):
        _read(tmp_path, _gguf(_ti("t", [2**40, 2**40]), n_tensors=1) + b"\0" * 64)


def test_row_not_a_whole_number_of_quant_blocks(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="row length 100 is not a multiple of the Q4_K block size 256"):
        _read(tmp_path, _gguf(_ti("t", [100], type_id=Q.Q4_K), n_tensors=1) + b"\0" * 256)


def test_misaligned_tensor_offset(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="offset 8 is not a multiple of the alignment 32"):
        _read(tmp_path, _gguf(_ti("t", [4], offset=8), n_tensors=1) + b"\0" * 64)


def test_overlapping_tensors(tmp_path: Path) -> None:
    data = _gguf(_ti("a", [16]) + _ti("b", [16], offset=32), n_tensors=2) + b"\0" * 256
    with pytest.raises(InvalidInputError, match="tensors a and b overlap"):
        _read(tmp_path, data)


def test_alignment_that_is_not_a_power_of_two(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"general\.alignment is 24, expected a power of two"):
        _read(tmp_path, _gguf(_kv_u32("general.alignment", 24), n_kv=1))


def test_known_key_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^model\.gguf: llama\.block_count is 'many', expected a non-negative integer$"):
        _read(tmp_path, _gguf(ARCH + _kv_str("llama.block_count", "many"), n_kv=2))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^absent\.gguf: cannot read the file"):
        read_gguf_header(tmp_path / "absent.gguf")


def test_a_directory_is_not_a_gguf_file(tmp_path: Path) -> None:
    (tmp_path / "dir.gguf").mkdir()
    with pytest.raises(InvalidInputError, match=r"^dir\.gguf: cannot read the file"):
        read_gguf_header(tmp_path / "dir.gguf")


# --------------------------------------------------------------------------- GGUF -> ModelEntry


def entry(
    tmp_path: Path, arch: str, meta: Callable[[GGUFWriter], None], tensors: Sequence[Tensor], name: str = "m.gguf"
) -> ModelEntry:
    return model_entry_from_gguf(read_gguf_header(write_gguf(tmp_path / name, arch, meta, tensors)))


def test_llama_maps_every_dense_field(llama: GgufHeader) -> None:
    e = model_entry_from_gguf(llama)
    got = (
        e.architecture, e.family, e.num_layers, e.hidden_size, e.intermediate_size, e.num_attention_heads,
        e.num_kv_heads, e.head_dim, e.vocab_size, e.max_context, e.tie_word_embeddings, e.attention_bias,
        e.qk_norm, e.mlp_gated, e.norm_per_layer, e.num_experts, e.sliding_window, e.layer_pattern,
    )  # fmt: skip
    assert got == ("llama", "llama", 2, 256, 512, 4, 2, 64, 512, 8192, False, False, False, True, 2, None, None, None)


def test_llama_entry_names_its_source_file(llama: GgufHeader) -> None:
    e = model_entry_from_gguf(llama)
    assert (e.source, e.id, e.name) == ("Tiny-Llama-3-Q4_K_M.gguf", "tiny-llama-3-q4-k-m", "Tiny Llama 3")


def test_entry_counts_parameters_from_the_tensors(llama: GgufHeader) -> None:
    assert model_entry_from_gguf(llama).params_total == llama.parameter_count


def test_entry_notes_the_file_type(llama: GgufHeader) -> None:
    assert model_entry_from_gguf(llama).notes.startswith("GGUF Q4_K_M, 21 tensors")


def test_no_output_tensor_means_tied_embeddings(tmp_path: Path) -> None:
    assert entry(tmp_path, "llama", llama_meta, dense_tensors(tied=True)).tie_word_embeddings is True


def test_vocab_size_is_the_embedding_row_count(tmp_path: Path) -> None:
    # A tokenizer list shorter than the (padded) embedding matrix: the weights decide.
    e = entry(tmp_path, "llama", lambda w: llama_meta(w, vocab=500), dense_tensors(vocab=512))
    assert e.vocab_size == 512


def test_head_dim_comes_from_key_length(tmp_path: Path) -> None:
    e = entry(tmp_path, "llama", lambda w: llama_meta(w, key_length=128), dense_tensors(head_dim=128, heads=2, kv=1))
    assert e.head_dim == 128


def test_per_layer_kv_heads_use_the_largest_and_say_so(tmp_path: Path) -> None:
    e = entry(tmp_path, "llama", lambda w: llama_meta(w, kv=[1, 2]), dense_tensors())
    assert e.num_kv_heads == 2 and "head_count_kv varies per layer (1-2)" in e.notes


def test_mistral_named_llama_file_is_a_mistral(tmp_path: Path) -> None:
    e = entry(tmp_path, "llama", lambda w: llama_meta(w, name="Mistral 7B Instruct v0.3"), dense_tensors())
    assert (e.family, e.architecture) == ("mistral", "mistral")


def test_llama_file_with_experts_is_a_mixtral(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w, name="Mixtral 8x7B")
        w.add_expert_count(4)
        w.add_expert_used_count(2)

    e = entry(tmp_path, "llama", meta, dense_tensors(layers=0) + moe_tensors([0, 1]))
    assert (e.family, e.architecture, e.num_experts, e.num_experts_per_token, e.moe_intermediate_size) == (
        "mistral", "mixtral", 4, 2, 256,
    )  # fmt: skip


def test_hf_repo_comes_from_the_source_url(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w)
        w.add_source_url("https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct")

    assert entry(tmp_path, "llama", meta, dense_tensors()).hf_repo == "meta-llama/Llama-3.1-8B-Instruct"


def test_license_comes_from_general_license(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w)
        w.add_license("apache-2.0")

    assert entry(tmp_path, "llama", meta, dense_tensors()).license == "apache-2.0"


def test_qwen2_biases_set_attention_bias(tmp_path: Path) -> None:
    e = entry(tmp_path, "qwen2", lambda w: llama_meta(w, name="Qwen2.5 0.5B"), dense_tensors(biases=True))
    assert (e.architecture, e.family, e.attention_bias, e.qk_norm) == ("qwen2", "qwen", True, False)


def test_qwen2_header_reads_the_bias_tensors(tmp_path: Path) -> None:
    h = read_gguf_header(write_gguf(tmp_path / "q.gguf", "qwen2", llama_meta, dense_tensors(biases=True)))
    assert (h.tensor("blk.1.attn_v.bias").shape, h.tensor("blk.1.attn_v.bias").n_bytes) == ((128,), 512)


def test_qwen3_q_and_k_norm_tensors_set_qk_norm(tmp_path: Path) -> None:
    e = entry(tmp_path, "qwen3", lambda w: llama_meta(w, key_length=64), dense_tensors(qk_norm=True))
    assert (e.architecture, e.qk_norm, e.attention_bias) == ("qwen3", True, False)


def test_qwen3moe_maps_the_experts(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w, key_length=64)
        w.add_expert_count(4)
        w.add_expert_used_count(2)
        w.add_expert_feed_forward_length(256)

    e = entry(tmp_path, "qwen3moe", meta, dense_tensors(layers=0) + moe_tensors([0, 1]))
    got = (e.architecture, e.num_experts, e.num_experts_per_token, e.moe_intermediate_size, e.num_shared_experts)
    assert got == ("qwen3_moe", 4, 2, 256, 0) and e.is_moe_layer(0)


def gemma3_meta(w: GGUFWriter, window: Optional[int] = 512, pattern: object = None) -> None:
    llama_meta(w, name="Gemma 3 1B", heads=4, kv=1, key_length=256, hidden=256)
    if window is not None:
        w.add_sliding_window(window)
    if pattern is not None:
        w.add_sliding_window_pattern(pattern)


GEMMA3_TENSORS = dense_tensors(heads=4, kv=1, head_dim=256, tied=True, qk_norm=True, post_norms=True)


def test_gemma3_is_five_sliding_layers_then_one_global(tmp_path: Path) -> None:
    e = entry(tmp_path, "gemma3", gemma3_meta, GEMMA3_TENSORS)
    assert (e.architecture, e.family, e.sliding_window, e.layer_pattern) == ("gemma3_text", "gemma", 512, "SSSSSF")


def test_gemma3_has_four_norms_per_layer_qk_norm_and_tied_embeddings(tmp_path: Path) -> None:
    e = entry(tmp_path, "gemma3", gemma3_meta, GEMMA3_TENSORS)
    assert (e.norm_per_layer, e.qk_norm, e.tie_word_embeddings, e.head_dim, e.num_kv_heads) == (4, True, True, 256, 1)


def test_gemma3_header_reads_the_sliding_window(tmp_path: Path) -> None:
    h = read_gguf_header(write_gguf(tmp_path / "g.gguf", "gemma3", gemma3_meta, GEMMA3_TENSORS))
    assert (h.sliding_window, h.sliding_window_pattern, h.key_length) == (512, None, 256)


def test_gemma3_sliding_window_pattern_key_sets_the_period(tmp_path: Path) -> None:
    e = entry(tmp_path, "gemma3", lambda w: gemma3_meta(w, pattern=4), GEMMA3_TENSORS)
    assert e.layer_pattern == "SSSF"


def test_per_layer_sliding_flags_become_the_pattern(tmp_path: Path) -> None:
    e = entry(tmp_path, "gemma3", lambda w: gemma3_meta(w, pattern=[True, False]), GEMMA3_TENSORS)
    assert e.layer_pattern == "SF"


def test_gemma3_without_a_window_is_all_global(tmp_path: Path) -> None:
    e = entry(tmp_path, "gemma3", lambda w: gemma3_meta(w, window=None), GEMMA3_TENSORS)
    assert (e.sliding_window, e.layer_pattern) == (None, None)


def test_gemma2_defaults_to_a_4096_window_every_other_layer(tmp_path: Path) -> None:
    e = entry(tmp_path, "gemma2", lambda w: gemma3_meta(w, window=None), dense_tensors(tied=True, post_norms=True))
    assert (e.architecture, e.sliding_window, e.layer_pattern, e.norm_per_layer, e.qk_norm) == ("gemma2", 4096, "SF", 4, False)


def test_phi3_window_is_ignored_as_llama_cpp_does(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w, name="Phi 3 mini", kv=4)
        w.add_sliding_window(2047)

    e = entry(tmp_path, "phi3", meta, dense_tensors(kv=4))
    assert (e.architecture, e.family, e.sliding_window, e.layer_pattern) == ("phi3", "phi", None, None)


def gpt_oss_meta(w: GGUFWriter) -> None:
    llama_meta(w, name="Gpt Oss 20b", heads=4, kv=2, key_length=64)
    w.add_sliding_window(128)
    w.add_expert_count(4)
    w.add_expert_used_count(2)
    w.add_expert_feed_forward_length(256)


def test_gpt_oss_alternates_sliding_and_full_layers(tmp_path: Path) -> None:
    e = entry(tmp_path, "gpt-oss", gpt_oss_meta, dense_tensors(biases=True) + moe_tensors([0, 1], bias=True))
    assert (e.architecture, e.family, e.sliding_window, e.layer_pattern) == ("gpt_oss", "gpt-oss", 128, "SF")


def test_gpt_oss_has_attention_and_expert_biases(tmp_path: Path) -> None:
    e = entry(tmp_path, "gpt-oss", gpt_oss_meta, dense_tensors(biases=True) + moe_tensors([0, 1], bias=True))
    assert (e.attention_bias, e.expert_bias, e.num_experts, e.num_experts_per_token) == (True, True, 4, 2)


def test_gpt_oss_without_a_window_is_invalid(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w)
        w.add_expert_count(4)
        w.add_expert_used_count(2)

    with pytest.raises(InvalidInputError, match=r"^m\.gguf: missing gpt-oss\.attention\.sliding_window$"):
        entry(tmp_path, "gpt-oss", meta, dense_tensors() + moe_tensors([0, 1]))


def llama4_meta(w: GGUFWriter, window: Optional[int] = None) -> None:
    llama_meta(w, name="Llama 4 Maverick", layers=4, key_length=64)
    w.add_expert_count(4)
    w.add_expert_used_count(1)
    w.add_expert_feed_forward_length(256)
    w.add_interleave_moe_layer_step(2)
    if window is not None:
        w.add_sliding_window(window)


LLAMA4_TENSORS = dense_tensors(layers=4) + moe_tensors([1, 3], shared_ff=256)


def test_llama4_is_three_chunked_layers_then_one_full(tmp_path: Path) -> None:
    e = entry(tmp_path, "llama4", llama4_meta, LLAMA4_TENSORS)
    assert (e.architecture, e.attention_chunk_size, e.layer_pattern, e.sliding_window) == ("llama4_text", 8192, "CCCF", None)


def test_llama4_interleaves_moe_layers_with_a_shared_expert(tmp_path: Path) -> None:
    e = entry(tmp_path, "llama4", llama4_meta, LLAMA4_TENSORS)
    got = (e.moe_layer_step, e.num_shared_experts, e.shared_expert_intermediate_size, e.is_moe_layer(0), e.is_moe_layer(1))
    assert got == (2, 1, 256, False, True)


def test_llama4_with_a_zero_window_has_no_chunked_attention(tmp_path: Path) -> None:
    e = entry(tmp_path, "llama4", lambda w: llama4_meta(w, window=0), LLAMA4_TENSORS)
    assert (e.attention_chunk_size, e.layer_pattern) == (None, None)


def deepseek_meta(w: GGUFWriter, *, new_style: bool = True, v3: bool = True, lite: bool = False) -> None:
    llama_meta(w, name="DeepSeek V3", layers=3, heads=4, kv=1 if new_style else 4)
    w.add_leading_dense_block_count(1)
    w.add_expert_count(4)
    w.add_expert_used_count(2)
    w.add_expert_shared_count(1)
    w.add_expert_feed_forward_length(256)
    if not lite:
        w.add_q_lora_rank(384)
    w.add_kv_lora_rank(128)
    w.add_rope_dimension_count(16)
    if new_style:  # llama.cpp's MLA layout: K/V lengths of the compressed cache, *_mla the real heads
        w.add_key_length(128 + 16)
        w.add_value_length(128)
        w.add_key_length_mla(48)
        w.add_value_length_mla(32)
    else:
        w.add_key_length(48)
        w.add_value_length(32)
    if v3:
        w.add_expert_gating_func(ExpertGatingFuncType.SIGMOID)


DEEPSEEK_TENSORS = dense_tensors(layers=1) + moe_tensors([1, 2], shared_ff=256)


def test_deepseek2_maps_multi_head_latent_attention(tmp_path: Path) -> None:
    e = entry(tmp_path, "deepseek2", deepseek_meta, DEEPSEEK_TENSORS)
    got = (e.q_lora_rank, e.kv_lora_rank, e.qk_rope_head_dim, e.qk_nope_head_dim, e.v_head_dim, e.head_dim, e.num_kv_heads)
    assert got == (384, 128, 16, 32, 32, 48, 4)


def test_deepseek2_old_style_keys_give_the_same_attention(tmp_path: Path) -> None:
    e = entry(tmp_path, "deepseek2", lambda w: deepseek_meta(w, new_style=False), DEEPSEEK_TENSORS)
    assert (e.qk_nope_head_dim, e.v_head_dim, e.head_dim, e.num_kv_heads) == (32, 32, 48, 4)


def test_deepseek2_lite_has_no_q_lora(tmp_path: Path) -> None:
    assert entry(tmp_path, "deepseek2", lambda w: deepseek_meta(w, lite=True), DEEPSEEK_TENSORS).q_lora_rank is None


def test_deepseek2_maps_dense_lead_and_shared_experts(tmp_path: Path) -> None:
    e = entry(tmp_path, "deepseek2", deepseek_meta, DEEPSEEK_TENSORS)
    got = (e.first_dense_layers, e.num_shared_experts, e.shared_expert_intermediate_size, e.is_moe_layer(0), e.is_moe_layer(1))
    assert got == (1, 1, 256, False, True)


def test_deepseek2_with_sigmoid_gating_is_a_v3(tmp_path: Path) -> None:
    assert entry(tmp_path, "deepseek2", deepseek_meta, DEEPSEEK_TENSORS).architecture == "deepseek_v3"


def test_deepseek2_with_softmax_gating_is_a_v2(tmp_path: Path) -> None:
    e = entry(tmp_path, "deepseek2", lambda w: deepseek_meta(w, v3=False), DEEPSEEK_TENSORS)
    assert (e.architecture, e.family) == ("deepseek_v2", "deepseek")


def test_trailing_nextn_blocks_count_as_mtp_layers(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        deepseek_meta(w)
        w.add_nextn_predict_layers(1)

    tensors = DEEPSEEK_TENSORS + [("blk.2.nextn.eh_proj.weight", (512, 256), Q.F16)]
    e = entry(tmp_path, "deepseek2", meta, tensors)
    assert (e.num_layers, e.mtp_layers) == (2, 1)


def test_split_files_are_noted(tmp_path: Path) -> None:
    def meta(w: GGUFWriter) -> None:
        llama_meta(w)
        w.add_uint16("split.count", 3)
        w.add_uint16("split.no", 0)

    e = entry(tmp_path, "llama", meta, dense_tensors())
    assert "split GGUF part 1 of 3" in e.notes


def test_unsupported_architecture_names_it(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedError, match=r"^m\.gguf: GGUF architecture 'mamba' is not supported"):
        entry(tmp_path, "mamba", llama_meta, dense_tensors())


def test_unsupported_architecture_message_stays_on_one_line(tmp_path: Path) -> None:
    h = _read(tmp_path, _gguf(_kv_str("general.architecture", "evil\narch"), n_kv=1))
    with pytest.raises(UnsupportedError, match=r"^model\.gguf: GGUF architecture 'evil\\narch' is not supported"):
        model_entry_from_gguf(h)


def test_names_from_the_file_are_escaped_in_messages(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"\(bad\\nname\)$"):
        _read(tmp_path, _gguf(_ti("bad\nname", [4], type_id=99), n_tensors=1) + b"\0" * 64)


def test_missing_block_count_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^m\.gguf: missing or zero llama\.block_count$"):
        entry(tmp_path, "llama", lambda w: w.add_embedding_length(256), dense_tensors())


def test_missing_architecture_is_invalid(tmp_path: Path) -> None:
    h = _read(tmp_path, _gguf(_kv_u32("llama.block_count", 2), n_kv=1), name="noarch.gguf")
    with pytest.raises(InvalidInputError, match=r"^noarch\.gguf: no general\.architecture in the metadata$"):
        model_entry_from_gguf(h)


def test_heads_not_a_multiple_of_kv_heads_is_invalid(tmp_path: Path) -> None:
    expected = r"^m\.gguf: metadata does not describe a valid model: .*multiple of num_kv_heads"
    with pytest.raises(InvalidInputError, match=expected):
        entry(tmp_path, "llama", lambda w: llama_meta(w, heads=4, kv=3), dense_tensors())


# --------------------------------------------------------------------------- against real configs

# Real config.json values from ../shared/ground_truth/models_and_gguf_sizes.json, written into a
# header-only GGUF the way llama.cpp's convert_hf_to_gguf.py writes them (head_dim as key_length;
# DeepSeek's MLA as the compressed key/value lengths with the real head sizes in *_mla and one KV
# head). The mapping must give the config's values back. (model id, GGUF architecture, tied).
REAL_CONFIGS = [
    ("Llama-3.2-1B", "llama", True),
    ("Llama-3.1-8B", "llama", False),
    ("Qwen2.5-7B", "qwen2", False),
    ("Qwen3-8B", "qwen3", False),
    ("Qwen3-30B-A3B", "qwen3moe", False),
    ("Mixtral-8x7B", "llama", False),
    ("gemma-2-27b", "gemma2", True),
    ("gemma-3-1b", "gemma3", True),
    ("Phi-4", "phi3", False),
    ("DeepSeek-V3", "deepseek2", False),
    ("gpt-oss-20b", "gpt-oss", False),
]


def _config(model_id: str) -> dict:
    (model,) = [m for m in ground_truth("models_and_gguf_sizes.json")["models"] if m["id"] == model_id]
    return model["config"]


def _converted_header(path: Path, arch: str, cfg: dict, tied: bool) -> GgufHeader:
    """A header-only GGUF (tensor infos, no data) with the keys convert_hf_to_gguf writes for ``cfg``."""
    hidden, heads, layers = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    w = GGUFWriter(path, arch)
    w.add_block_count(layers)
    w.add_context_length(cfg.get("max_position_embeddings") or 4096)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("num_key_value_heads") or heads)
    head_dim = cfg.get("head_dim") or hidden // heads
    tensors: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (hidden, cfg["vocab_size"]))]
    if not tied:
        tensors.append(("output.weight", (hidden, cfg["vocab_size"])))
    if cfg.get("head_dim"):
        w.add_key_length(cfg["head_dim"])
        w.add_value_length(cfg["head_dim"])
    if arch in ("qwen2", "gpt-oss"):
        tensors.append(("blk.0.attn_q.bias", (heads * head_dim,)))
    if arch in ("qwen3", "qwen3moe", "gemma3"):
        tensors.append(("blk.0.attn_q_norm.weight", (head_dim,)))
    if arch in ("gemma2", "gemma3", "gpt-oss"):
        w.add_sliding_window(cfg["sliding_window"])
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts")
    if experts:
        moe_ff = cfg.get("moe_intermediate_size") or cfg["intermediate_size"]
        first_moe = cfg.get("first_k_dense_replace", 0)
        w.add_expert_count(experts)
        w.add_expert_used_count(cfg["num_experts_per_tok"])
        if arch != "llama":  # Mixtral GGUFs carry no expert width: it is read from the expert tensors
            w.add_expert_feed_forward_length(moe_ff)
        tensors.append((f"blk.{first_moe}.ffn_up_exps.weight", (hidden, moe_ff, experts)))
        if arch == "gpt-oss":
            tensors.append((f"blk.{first_moe}.ffn_up_exps.bias", (moe_ff, experts)))
        if cfg.get("n_shared_experts"):
            w.add_expert_shared_count(cfg["n_shared_experts"])
            tensors.append((f"blk.{first_moe}.ffn_up_shexp.weight", (hidden, moe_ff * cfg["n_shared_experts"])))
    if arch == "deepseek2":
        rope, kv_rank = cfg["qk_rope_head_dim"], cfg["kv_lora_rank"]
        w.add_leading_dense_block_count(cfg["first_k_dense_replace"])
        w.add_q_lora_rank(cfg["q_lora_rank"])
        w.add_kv_lora_rank(kv_rank)
        w.add_rope_dimension_count(rope)
        w.add_head_count_kv(1)
        w.add_key_length(kv_rank + rope)
        w.add_value_length(kv_rank)
        w.add_key_length_mla(cfg["qk_nope_head_dim"] + rope)
        w.add_value_length_mla(cfg["v_head_dim"])
        w.add_expert_gating_func(ExpertGatingFuncType.SIGMOID)
    for name, shape in tensors:
        n = int(np.prod(shape))
        w.add_tensor_info(name, tuple(reversed(shape)), np.dtype(np.float16), n * 2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return read_gguf_header(path, check_data=False)


@pytest.mark.parametrize(("model_id", "arch", "tied"), REAL_CONFIGS, ids=[r[0] for r in REAL_CONFIGS])
def test_a_header_converted_from_a_real_config_maps_back_to_it(tmp_path: Path, model_id: str, arch: str, tied: bool) -> None:
    cfg = _config(model_id)
    if cfg.get("tie_word_embeddings") is not None:
        assert cfg["tie_word_embeddings"] == tied
    e = model_entry_from_gguf(_converted_header(tmp_path / f"{model_id}.gguf", arch, cfg, tied))
    heads = cfg["num_attention_heads"]
    experts = cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts")
    expected = {
        "num_layers": cfg["num_hidden_layers"],
        "hidden_size": cfg["hidden_size"],
        "intermediate_size": cfg["intermediate_size"],
        "num_attention_heads": heads,
        "num_kv_heads": cfg.get("num_key_value_heads") or heads,
        "vocab_size": cfg["vocab_size"],
        "tie_word_embeddings": tied,
        "sliding_window": cfg.get("sliding_window"),
        "num_experts": experts,
        "num_experts_per_token": cfg.get("num_experts_per_tok"),
        "moe_intermediate_size": (cfg.get("moe_intermediate_size") or cfg["intermediate_size"]) if experts else None,
        "num_shared_experts": cfg.get("n_shared_experts", 0),
        "first_dense_layers": cfg.get("first_k_dense_replace", 0),
        "q_lora_rank": cfg.get("q_lora_rank"),
        "kv_lora_rank": cfg.get("kv_lora_rank"),
        "qk_nope_head_dim": cfg.get("qk_nope_head_dim"),
        "qk_rope_head_dim": cfg.get("qk_rope_head_dim"),
        "v_head_dim": cfg.get("v_head_dim"),
    }
    if cfg.get("max_position_embeddings"):
        expected["max_context"] = cfg["max_position_embeddings"]
    if cfg.get("kv_lora_rank"):
        expected["head_dim"] = cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]
    else:
        expected["head_dim"] = cfg.get("head_dim") or cfg["hidden_size"] // heads
    assert {k: getattr(e, k) for k in expected} == expected


@pytest.mark.parametrize(
    ("model_id", "arch", "pattern"),
    [("gemma-2-27b", "gemma2", "SF"), ("gemma-3-1b", "gemma3", "SSSSSF"), ("gpt-oss-20b", "gpt-oss", "SF")],
)
def test_real_sliding_window_models_get_their_layer_pattern(tmp_path: Path, model_id: str, arch: str, pattern: str) -> None:
    cfg = _config(model_id)
    if cfg.get("sliding_window_pattern"):  # Gemma 3: every n-th layer is global
        assert pattern == "S" * (cfg["sliding_window_pattern"] - 1) + "F"
    e = model_entry_from_gguf(_converted_header(tmp_path / "m.gguf", arch, cfg, tied=True))
    assert (e.layer_pattern, e.sliding_window) == (pattern, cfg["sliding_window"])


# --------------------------------------------------------------------------- properties: hostile input

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(milliseconds=500),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MEMORY_LIMIT = 4 << 20


def parse_or_reject(data: bytes, check_data: bool = True) -> object:
    """Parse fuzzed bytes: a GgufHeader or one clean InvalidInputError, in bounded memory."""
    f = io.BytesIO(data)
    tracemalloc.start()
    try:
        try:
            result: object = parse_gguf_header(f, name="fuzz.gguf", check_data=check_data)
        except InvalidInputError as e:
            msg = str(e)
            assert msg.startswith("fuzz.gguf: ") and "\n" not in msg and "unexpected" not in msg, msg
            result = e
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, peak
    assert isinstance(result, (GgufHeader, InvalidInputError))
    return result


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, int]:
    """A small valid file rich in header variety, and where its tensor data begins."""

    def meta(w: GGUFWriter) -> None:
        llama_meta(w, vocab=40, kv=[2, 2])
        w.add_sliding_window_pattern([True, False])
        w.add_bool("general.flag", True)
        w.add_float64("general.f64", 1.5)
        w.add_int64("general.i64", -3)
        w.add_array("general.tags", ["a", "bb", "ccc"])
        w.add_string("tokenizer.chat_template", "{{ x }}" * 5)

    path = write_gguf(tmp_path_factory.mktemp("fuzz") / "s.gguf", "llama", meta, [
        ("token_embd.weight", (32, 4), Q.Q8_0), ("output_norm.weight", (32,), Q.F32), ("blk.0.attn_q.weight", (256, 2), Q.Q4_K),
    ])  # fmt: skip
    data = path.read_bytes()
    return data, read_gguf_header(path).header_bytes


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_never_escape_as_another_error(data: bytes) -> None:
    parse_or_reject(data)


@FUZZ
@given(body=st.binary(max_size=600), n_tensors=st.integers(0, 2**64 - 1), n_kv=st.integers(0, 2**64 - 1))
def test_random_bytes_after_a_valid_preamble_never_escape(body: bytes, n_tensors: int, n_kv: int) -> None:
    parse_or_reject(_gguf(body, n_kv=n_kv % 8 if n_kv % 3 else n_kv, n_tensors=n_tensors % 4 if n_tensors % 3 else n_tensors))


@FUZZ
@given(st.data())
def test_every_truncation_is_rejected(sample: tuple[bytes, int], data: st.DataObject) -> None:
    raw, _ = sample
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert isinstance(parse_or_reject(raw[:cut]), InvalidInputError)


@FUZZ
@given(st.data())
def test_truncations_after_the_header_read_when_data_is_not_checked(sample: tuple[bytes, int], data: st.DataObject) -> None:
    raw, header_bytes = sample
    cut = data.draw(st.integers(header_bytes, len(raw)))
    assert isinstance(parse_or_reject(raw[:cut], check_data=False), GgufHeader)


@FUZZ
@given(st.data())
def test_byte_flips_in_the_header_never_escape(sample: tuple[bytes, int], data: st.DataObject) -> None:
    raw, header_bytes = sample
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, header_bytes - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    parse_or_reject(bytes(buf))


@FUZZ
@given(st.data())
def test_a_flipped_header_that_parses_maps_or_fails_cleanly(sample: tuple[bytes, int], data: st.DataObject) -> None:
    raw, header_bytes = sample
    buf = bytearray(raw)
    pos = data.draw(st.integers(0, header_bytes - 1))
    buf[pos] = data.draw(st.integers(0, 255))
    result = parse_or_reject(bytes(buf))
    if isinstance(result, GgufHeader):
        try:
            assert isinstance(model_entry_from_gguf(result), ModelEntry)
        except SizerError as e:
            assert "\n" not in str(e)
