"""`train.precision=auto` on the CPU: bf16 only where the CPU computes it in hardware (else emulated, 10-20x slower)."""

from __future__ import annotations

import torch

from wilss.engine.precision import cpu_has_native_bf16, resolve_precision


def test_bf16_instructions_are_read_from_the_cpu_flags(tmp_path):
    cases = {"flags\t\t: fpu sse2 avx2 fma\n": False, "flags\t\t: avx2 avx512f avx512_bf16\n": True,
             "flags\t\t: avx2 amx_tile amx_bf16\n": True, "Features\t: fp asimd bf16 i8mm\n": True, "": False}
    for number, (text, expected) in enumerate(cases.items()):
        (tmp_path / str(number)).write_text(text)
        assert cpu_has_native_bf16(tmp_path / str(number)) is expected, text
    assert cpu_has_native_bf16(tmp_path / "absent") is False


def test_auto_is_fp16_on_cuda_and_bf16_or_fp32_on_the_cpu_as_its_instructions_allow():
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"
