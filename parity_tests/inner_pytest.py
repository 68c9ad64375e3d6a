"""What a test that runs pytest in a subprocess (test_keras_backends.py) shows when that inner run
fails. The inner run's last lines are its `-ra` summary, dozens of SKIPPED reasons on JAX and
PyTorch (float64), so its tail hid the failure; `failure_report` keeps what says what failed."""
import re

# a failure's section header (`____ test_name[case] ____`), its `E   …` lines, the `file.py:12: Error`
# line under them, and the summary's FAILED / ERROR lines
_SECTION = re.compile(r"^_{3,} .+ _{3,}$")
_WHERE = re.compile(r"^\S+\.py:\d+: \w+")


def failure_report(stdout, stderr="", limit=40):
    """The inner pytest's failures, for the outer assertion's message: the last `limit` lines that
    name a failing test or say why it failed (section headers, `E ` lines, their locations), every
    FAILED / ERROR summary line, the closing counts line, and the end of stderr. Without any of
    those (a crash before pytest reported, a timeout), the last 15 lines of stdout."""
    lines = stdout.rstrip().splitlines()
    detail = [x for x in lines if _SECTION.match(x) or x.startswith("E ") or _WHERE.match(x)]
    summary = [x for x in lines if x.startswith(("FAILED ", "ERROR "))]
    if not detail and not summary:
        out = lines[-15:]
    else:
        left_out = len(detail) - limit
        out = ([f"... ({left_out} earlier lines of the failures left out)"] if left_out > 0 else []) + detail[-limit:]
        out += ["", *summary]
        if lines and lines[-1] not in out:
            out.append(lines[-1])
    if stderr.strip():
        out += ["stderr:", stderr.rstrip()[-2000:]]
    return "\n".join(out)
