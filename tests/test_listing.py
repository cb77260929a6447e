"""``optbench list`` shows docstrings as plain text, without reStructuredText markup."""

from __future__ import annotations

import re

import pytest

from optbench.cli import main
from optbench.listing import latex_text, plain_text


def test_list_output_has_no_rst_markup(capsys):
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert ":math:" not in listing
    assert "`" not in listing  # no ``literal``, `interpreted` or :role:`target`
    assert not re.search(r"\\[A-Za-z|]", listing)  # no LaTeX command left
    assert "least_squares: Linear least squares (1/(2n))‖Ax-b‖^2 + (l_2/2)‖x‖^2." in listing
    assert "scipy: A scipy.optimize.minimize method" in listing


@pytest.mark.parametrize(
    ("rst", "text"),
    [
        (r":math:`\frac{1}{2n}\|Ax-b\|^2`", "(1/(2n))‖Ax-b‖^2"),
        (r":math:`\frac{\frac{a}{b}}{c}`", "((a/b)/c)"),
        (r":math:`\|g_k\|_{2} \le \text{gtol}`", "‖g_k‖_2 ≤ gtol"),
        (r":math:`d^\top \nabla^2 f\, d`", "dᵀ ∇^2 f  d"),
        (":func:`~optbench.solvers.newton.Newton` step", "Newton step"),
        (":class:`optbench.Oracle`", "optbench.Oracle"),
        ("``K`` classes, `x` kept", "K classes, x kept"),
        ("no markup: 1/L, f* = 0", "no markup: 1/L, f* = 0"),
    ],
)
def test_plain_text(rst, text):
    assert plain_text(rst) == text


def test_unknown_latex_commands_keep_their_name():
    assert latex_text(r"\operatorname{diag}(w) + \foo") == "diag(w) + foo"
