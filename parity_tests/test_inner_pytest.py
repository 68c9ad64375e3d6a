"""inner_pytest.failure_report, on an inner run's output as pytest -q -ra writes it: the outer
test_keras_parity_suite_on_backend must show the inner assertion, not the skip reasons."""
from inner_pytest import failure_report

SKIPS = [f"SKIPPED [1] parity_tests/test_keras_model.py:{100 + i}: float64 on jax: Keras computes it in float32"
         for i in range(30)]
FAILED_RUN = "\n".join([
    "..........s.....F..s......F" + " " * 40 + "[100%]",
    "=================================== FAILURES ===================================",
    "__________________________ test_mha_grads[float32] ___________________________",
    "",
    "    def test_mha_grads(dtype):",
    ">       assert err <= tol, ('dW_q', err)",
    "E       AssertionError: ('dW_q', 0.0031)",
    "E       assert 0.0031 <= 0.0001",
    "",
    "parity_tests/test_keras_layers.py:88: AssertionError",
    "___________________________ test_adam_matches_keras ___________________________",
    "",
    ">       np.testing.assert_allclose(a, b, rtol=1e-6)",
    "E       AssertionError: ",
    "E       Not equal to tolerance rtol=1e-06, atol=0",
    "E       Max relative difference among violations: 0.04761905",
    "",
    "parity_tests/test_keras_optim.py:41: AssertionError",
    "=========================== short test summary info ============================",
    *SKIPS,
    "FAILED parity_tests/test_keras_layers.py::test_mha_grads[float32] - AssertionError: ('dW_q', 0.0031)",
    "FAILED parity_tests/test_keras_optim.py::test_adam_matches_keras - AssertionError: ",
    "2 failed, 120 passed, 32 skipped in 95.02s (0:01:35)",
])


def test_the_inner_failures_are_in_the_message():
    msg = failure_report(FAILED_RUN, "")
    assert "___ test_mha_grads[float32] ___" in msg and "___ test_adam_matches_keras ___" in msg
    for needed in ("E       AssertionError: ('dW_q', 0.0031)", "E       assert 0.0031 <= 0.0001",
                   "parity_tests/test_keras_layers.py:88: AssertionError",
                   "E       Max relative difference among violations: 0.04761905",
                   "FAILED parity_tests/test_keras_layers.py::test_mha_grads[float32] - AssertionError: ('dW_q', 0.0031)",
                   "FAILED parity_tests/test_keras_optim.py::test_adam_matches_keras - AssertionError: ",
                   "2 failed, 120 passed, 32 skipped in 95.02s (0:01:35)"):
        assert needed in msg.splitlines(), needed
    assert "SKIPPED" not in msg and "def test_mha_grads" not in msg
    # what the outer test printed before: the last 15 lines, skip reasons and FAILED lines, no `E ` line
    assert not any(x.startswith("E ") for x in FAILED_RUN.splitlines()[-15:])


def test_many_failures_keep_the_last_lines_and_say_so():
    many = "\n".join(f"E       AssertionError: case {i}" for i in range(100)) + "\n" + \
        "\n".join(f"FAILED parity_tests/t.py::test_{i} - AssertionError: case {i}" for i in range(3)) + "\n3 failed"
    lines = failure_report(many, "", limit=40).splitlines()
    assert lines[0] == "... (60 earlier lines of the failures left out)"
    assert lines[1] == "E       AssertionError: case 60" and "E       AssertionError: case 99" in lines
    assert lines[-4:] == [f"FAILED parity_tests/t.py::test_{i} - AssertionError: case {i}" for i in range(3)] + ["3 failed"]


def test_a_crash_before_pytest_reports_shows_the_tail_and_stderr():
    out = "\n".join(f"line {i}" for i in range(30))
    msg = failure_report(out, "Traceback (most recent call last):\nImportError: libjax.so")
    assert msg.splitlines()[:15] == [f"line {i}" for i in range(15, 30)]
    assert msg.endswith("stderr:\nTraceback (most recent call last):\nImportError: libjax.so")
