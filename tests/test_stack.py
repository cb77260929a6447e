"""The numerical-stack fingerprint: derived from environment.json, compared field by field."""

from __future__ import annotations

import json

from optbench.run.environment import collect_environment
from optbench.stack import (
    STACK_FIELDS,
    UNKNOWN,
    read_stack,
    stack_differences,
    stack_fingerprint,
)

#: An environment.json written before fingerprints were stored.
OLD_ENVIRONMENT = {
    "python": {"version": "3.11.7", "implementation": "CPython"},
    "packages": {"numpy": "2.4.6", "scipy": "1.17.1"},
    "platform": {"machine": "x86_64"},
    "blas": [
        {"user_api": "blas", "internal_api": "openblas", "version": "0.3.30",
         "architecture": "Haswell", "package": "scipy"},
        {"user_api": "openmp", "internal_api": "openmp", "version": None, "package": "x"},
    ],
    "blas_threads_for_runs": 1,
    "numpy_build": {"SIMD Extensions": {"found": ["X86_V3", "X86_V4"]}},
}  # fmt: skip


def test_this_process_has_a_complete_fingerprint():
    environment = collect_environment(blas_threads=2)
    stack = environment["stack"]
    assert list(stack) == list(STACK_FIELDS)
    assert stack["blas_threads"] == "2"
    assert stack["numpy"] == environment["packages"]["numpy"]
    # with every SIMD extension disabled numpy dispatches to its baseline only
    assert stack["numpy_simd"] == (" ".join(environment["numpy_simd"]) or "baseline only")
    assert stack_fingerprint(environment) == stack  # the stored entry is read back as is
    assert stack_differences(stack, dict(stack)) == []


def test_an_old_environment_is_fingerprinted_from_what_it_records():
    stack = stack_fingerprint(OLD_ENVIRONMENT)
    assert stack["python"] == "CPython 3.11.7"
    assert stack["blas"] == "openblas 0.3.30 Haswell (scipy)"  # BLAS only, not OpenMP
    assert stack["numpy_simd"] == "X86_V3 X86_V4"
    assert stack["blas_threads"] == "1"
    assert stack["libc"] == stack["cpu_flags"] == UNKNOWN
    # An unknown field never matches, even itself.
    assert stack_differences(stack, stack) == [
        f"libc: {UNKNOWN} ≠ {UNKNOWN}",
        f"cpu_flags: {UNKNOWN} ≠ {UNKNOWN}",
    ]


def test_differences_name_the_fields_in_order():
    first = {field: "a" for field in STACK_FIELDS}
    second = {**first, "numpy_simd": "b", "blas": "c"}
    assert stack_differences(first, second) == ["blas: a ≠ c", "numpy_simd: a ≠ b"]
    assert stack_differences(first, {}) == ["stack: not recorded for the second"]


def test_read_stack_from_a_directory_or_a_stack_file(tmp_path):
    assert read_stack(tmp_path) is None
    (tmp_path / "environment.json").write_text(json.dumps(OLD_ENVIRONMENT))
    assert read_stack(tmp_path) == stack_fingerprint(OLD_ENVIRONMENT)
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(json.dumps({field: "x" for field in STACK_FIELDS}))
    assert read_stack(stack_file) == {field: "x" for field in STACK_FIELDS}
    (tmp_path / "broken.json").write_text("{")
    assert read_stack(tmp_path / "broken.json") is None
