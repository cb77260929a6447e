"""Problems from the user's function: JAX derivatives, finite-difference HVPs, configs."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import optbench
from optbench import make_problem
from optbench.checks import check_derivatives
from optbench.problems.finite_differences import central_difference_hvp
from optbench.problems.oracle import Oracle
from optbench.run.config import ConfigError, load_config

JAX_MISSING = "the JAX route needs the extra: pip install 'optbench[jax]'"
jax = pytest.importorskip("jax", reason=JAX_MISSING)
jnp = pytest.importorskip("jax.numpy")


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_jax_route_matches_the_analytic_rosenbrock() -> None:
    native = make_problem("rosenbrock", dim=7)
    own = make_problem("function", f=rosenbrock, x0=native.x0, name="rosen_jax")
    rng = np.random.default_rng(0)
    for _ in range(3):
        x, v = rng.normal(size=7), rng.normal(size=7)
        f_native, g_native = native.value_and_grad(x)
        f_own, g_own = own.value_and_grad(x)
        assert f_own == pytest.approx(f_native, rel=1e-12)
        np.testing.assert_allclose(g_own, g_native, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(own.hvp(x, v), native.hvp(x, v), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(own.hess(x), native.hess(x), rtol=1e-12, atol=1e-10)
    assert own.compile_seconds > 0.0
    assert own.name == "rosen_jax" and own.dim == 7


def test_jax_route_matches_the_analytic_logistic_on_the_same_data() -> None:
    native = make_problem("logistic", n_samples=300, n_features=12, l2=1e-2, seed=3)
    X, y, l2 = jnp.asarray(native.X), jnp.asarray(native.y), native.l2

    def loss(w):
        return jnp.mean(jnp.logaddexp(0.0, -y * (X @ w))) + 0.5 * l2 * jnp.sum(w**2)

    own = make_problem("function", f=loss, x0=native.x0, name="logistic_jax")
    rng = np.random.default_rng(1)
    x, v = rng.normal(size=12), rng.normal(size=12)
    assert own.value(x) == pytest.approx(native.value(x), rel=1e-12)
    np.testing.assert_allclose(own.grad(x), native.grad(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(own.hvp(x, v), native.hvp(x, v), rtol=1e-12, atol=1e-14)


def test_derivative_check_passes_for_both_routes() -> None:
    own = make_problem("function", f=rosenbrock, x0=[-1.2, 1.0, 0.5], name="r3")
    assert check_derivatives(own).passed
    native = make_problem("rosenbrock", dim=3)
    fd = make_problem(
        "function", f=native.value, grad=native.grad, hvp="fd", x0=native.x0, name="fd"
    )
    assert check_derivatives(fd).passed


def test_fd_hvp_is_within_its_stated_accuracy_and_costs_two_gradients() -> None:
    native = make_problem("rosenbrock", dim=5)
    rng = np.random.default_rng(2)
    for scale in (1e-3, 1.0, 1e3):
        x, v = rng.normal(size=5), scale * rng.normal(size=5)
        exact = native.hvp(x, v)
        approx = central_difference_hvp(native.grad, x, v)
        # eps^(2/3) ~ 4e-11 relative, times the third derivative's scale (here ~1e3).
        assert np.linalg.norm(approx - exact) <= 1e-7 * np.linalg.norm(exact)
    assert not central_difference_hvp(native.grad, np.ones(5), np.zeros(5)).any()
    fd = make_problem("function", f=native.value, grad=native.grad, hvp="fd", x0=native.x0)
    oracle = Oracle(fd)
    oracle.hvp(np.ones(5), np.ones(5))
    assert (oracle.n_hvp, oracle.cost) == (1, 2.0)


def test_a_run_counts_the_calls_the_function_received() -> None:
    calls = {"f": 0, "g": 0}

    def f(x):
        calls["f"] += 1
        return float(np.sum((x - 2.0) ** 2))

    def g(x):
        calls["g"] += 1
        return 2.0 * (x - 2.0)

    problem = make_problem("function", f=f, grad=g, hvp="fd", x0=[0.0, 0.0, 0.0], name="quad")
    assert problem.f_star == pytest.approx(0.0, abs=1e-12)  # certified first, uncounted
    calls.update(f=0, g=0)
    result = optbench.minimize(problem, "newton_cg", x0=np.array([0.0, 5.0, -3.0]))
    assert result.status == "converged" and result.n_hvp > 0
    # n_g counts gradients (alone or fused with a value); an FD HVP calls g twice.
    assert calls["g"] == result.n_g + 2 * result.n_hvp
    assert calls["f"] >= result.n_f  # the runner's own f(x0) for the trace is uncounted
    assert result.cost == pytest.approx(
        result.n_g + 2 * result.n_hvp + 0.5 * (result.n_f - result.n_g)
    )


def test_bad_parameters_are_one_line() -> None:
    with pytest.raises(ValueError, match="x0: must be a non-empty list"):
        make_problem("function", f=rosenbrock, x0=[])
    with pytest.raises(ValueError, match="hvp: must be one of ad, fd"):
        make_problem("function", f=rosenbrock, x0=[1.0, 2.0], hvp="exact")
    with pytest.raises(ValueError, match="give either f"):
        make_problem("function", x0=[1.0])
    with pytest.raises(ValueError, match="x0"):
        make_problem("function", f=rosenbrock, x0=[1.0, float("nan")])


def test_missing_jax_is_named(monkeypatch) -> None:
    import optbench.problems.function as function

    monkeypatch.setattr(function, "jax_available", lambda: False)
    missing_grad = r"grad is not given and JAX is not installed.*optbench\[jax\]"
    with pytest.raises(ValueError, match=missing_grad):
        make_problem("function", f=rosenbrock, x0=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"hvp: ad and JAX is not installed.*or hvp: fd"):
        make_problem("function", f=np.sum, grad=np.ones_like, x0=[1.0, 2.0])


def test_given_f_star_is_checked() -> None:
    quad = make_problem("function", f=lambda x: jnp.sum((x - 1.0) ** 2) + 3.0, x0=[0.0, 0.0])
    assert quad.f_star == pytest.approx(3.0)
    lower = make_problem(
        "function", f=lambda x: jnp.sum((x - 1.0) ** 2) + 3.0, x0=[0.0, 0.0], f_star=2.5
    )
    assert lower.f_star == 2.5
    wrong = make_problem(
        "function", f=lambda x: jnp.sum((x - 1.0) ** 2) + 3.0, x0=[0.0, 0.0], f_star=4.0
    )
    with pytest.raises(ValueError, match="not a lower bound"):
        _ = wrong.f_star


def test_config_route_with_a_module_file(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_losses.py").write_text(
        textwrap.dedent(
            """
            import jax.numpy as jnp
            import numpy as np

            def quartic(x):
                return jnp.sum((x - 1.0) ** 4) + 0.5 * jnp.sum(x ** 2)

            def quad(x):
                return 0.5 * float(np.sum((np.arange(1, x.size + 1) * x) ** 2))

            def quad_grad(x):
                return np.arange(1, x.size + 1) ** 2 * x
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    base = {
        "name": "fn",
        "solvers": [{"name": "newton_cg"}],
        "stop": {"gtol": 1e-8, "max_iter": 200},
        "targets": [1e-6],
    }
    problems = [
        {"family": "function", "params": {"module": "my_losses.py", "name": "quartic",
                                          "x0": [0.0, 2.0, -1.0]}},
        {"family": "function", "params": {"module": "my_losses.py", "name": "quad",
                                          "grad": "quad_grad", "hvp": "fd",
                                          "x0": [[1.0, 1.0], [2.0, -1.0]]}},
    ]  # fmt: skip
    config = load_config({**base, "problems": problems})
    assert len(config.runs) == 3  # one start point, then a sweep over two
    results = optbench.run(config, out=tmp_path / "out", progress=False, plot=False)
    summary = results.summary
    assert (summary["status"] == "converged").all()
    assert (summary["compile_time"] > 0).sum() == 1  # only the JAX problem compiles
    bad = [{"family": "function", "params": {"module": "my_losses.py", "name": "nope",
                                             "x0": [1.0]}}]  # fmt: skip
    with pytest.raises(ConfigError, match="name: .*has no function 'nope'"):
        load_config({**base, "problems": bad})
    nested = [{"family": "function", "params": {"module": "my_losses.py", "name": "quartic",
                                                "x0": [[1.0], 2.0]}}]  # fmt: skip
    with pytest.raises(ConfigError, match="x0: must be a list of numbers"):
        load_config({**base, "problems": nested})


def test_a_module_path_is_relative_to_the_config_file(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "losses.py").write_text(
        "import jax.numpy as jnp\ndef bowl(x):\n    return jnp.sum(x**2)\n"
    )
    (folder / "c.yaml").write_text(
        "name: bowl\n"
        "problems: [{family: function, params: {module: losses.py, name: bowl, x0: [1.0, 2.0]}}]\n"
        "solvers: [{name: newton_cg}]\n"
    )
    monkeypatch.chdir(tmp_path)  # not the config's folder
    config = load_config(folder / "c.yaml")
    (run,) = config.runs
    assert run.problem.params["module"] == str(folder / "losses.py")
