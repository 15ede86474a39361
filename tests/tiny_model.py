"""A tiny random-weight FIM model for protocol tests: StarCoder's real tokenizer, 2 layers.

Its text is noise, but deterministic, and its vocabulary has StarCoder's FIM tokens, so a FIM
prompt can be checked end to end (in process and through llama-server) without a real FIM
model, which this project cannot download. Written with the `gguf` package from the vocabulary
file vendored in llama.cpp's sources.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

N_EMBD, N_LAYER, N_HEAD, N_KV, N_FF = 64, 2, 4, 2, 128


def _copy_tokenizer(reader: GGUFReader, writer: GGUFWriter) -> int:
    """Copy every tokenizer.* field; return the vocabulary size."""
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = field.types[0]
        if kind == GGUFValueType.ARRAY:
            if field.types[1] == GGUFValueType.STRING:
                values = [
                    bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data
                ]
                writer.add_array(key, values)
            else:
                writer.add_array(key, [field.parts[i].tolist()[0] for i in field.data])
        elif kind == GGUFValueType.STRING:
            writer.add_string(key, bytes(field.parts[field.data[0]]).decode())
        elif kind == GGUFValueType.UINT32:
            writer.add_uint32(key, int(field.parts[field.data[0]][0]))
        elif kind == GGUFValueType.BOOL:
            writer.add_bool(key, bool(field.parts[field.data[0]][0]))
    return len(reader.fields["tokenizer.ggml.tokens"].data)


def write_tiny_fim_model(vocab: Path, out: Path) -> Path:
    """A 2-layer StarCoder2-architecture model with `vocab`'s tokenizer, random weights."""
    reader = GGUFReader(vocab)
    writer = GGUFWriter(str(out), "starcoder2")
    writer.add_name("tiny-fim-test")
    writer.add_context_length(2048)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_KV)
    writer.add_layer_norm_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(0)
    n_vocab = _copy_tokenizer(reader, writer)
    rng = np.random.default_rng(0)
    kv = N_KV * (N_EMBD // N_HEAD)

    def weight(name: str, rows: int, cols: int, scale: float = 0.05) -> None:
        data = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
        writer.add_tensor(name, data)

    def norm(name: str, n: int) -> None:
        writer.add_tensor(name + ".weight", np.ones(n, dtype=np.float32))
        writer.add_tensor(name + ".bias", np.zeros(n, dtype=np.float32))

    def bias(name: str, n: int) -> None:
        writer.add_tensor(name, np.zeros(n, dtype=np.float32))

    weight("token_embd.weight", n_vocab, N_EMBD, 0.5)
    for i in range(N_LAYER):
        b = f"blk.{i}."
        norm(b + "attn_norm", N_EMBD)
        for part, rows in (("q", N_EMBD), ("k", kv), ("v", kv), ("output", N_EMBD)):
            weight(f"{b}attn_{part}.weight", rows, N_EMBD)
            bias(f"{b}attn_{part}.bias", rows)
        norm(b + "ffn_norm", N_EMBD)
        weight(b + "ffn_up.weight", N_FF, N_EMBD)
        bias(b + "ffn_up.bias", N_FF)
        weight(b + "ffn_down.weight", N_EMBD, N_FF)
        bias(b + "ffn_down.bias", N_EMBD)
    norm("output_norm", N_EMBD)
    weight("output.weight", n_vocab, N_EMBD, 0.5)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
