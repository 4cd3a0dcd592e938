"""Computing code never imports plotting: explanations name their Display."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import skxai
from skxai.explanation import Explanation

PACKAGE = Path(skxai.__file__).resolve().parent
# Modules whose job is to draw: the displays, the demo and the skorch callback.
DRAWING = {"plotting", "_demo.py", "callbacks.py", "cli.py"}


def _imports(path):
    """Every module name a file imports, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield ("." * node.level) + (node.module or "")
            for alias in node.names:
                yield ("." * node.level) + (node.module or "") + "." + alias.name


def test_computing_modules_never_import_plotting():
    """Check that no computing module imports skxai.plotting or matplotlib,
    not even inside a function."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in DRAWING:
            continue
        for name in _imports(path):
            parts = name.lstrip(".").split(".")
            if "plotting" in parts or parts[0] == "matplotlib":
                offenders.append(f"{relative}: {name}")
    assert offenders == []


def test_explanations_name_their_display():
    """Check that each explanation class names the Display that draws it, and
    that the name resolves to a class with from_explanation."""
    from skxai.contrastive import ContrastiveExplanation
    from skxai.similarity import SimilarityExplanation

    expected = {
        Explanation: "SaliencyDisplay",
        ContrastiveExplanation: "ContrastiveDisplay",
        SimilarityExplanation: "SimilarityDisplay",
    }
    for cls, name in expected.items():
        assert cls._display == f"skxai.plotting:{name}"
        display = cls.display_class()
        assert display.__name__ == name
        assert callable(display.from_explanation)


def test_explaining_imports_no_plotting():
    """Check in a fresh interpreter that explaining loads neither
    skxai.plotting nor matplotlib."""
    code = (
        "import sys\n"
        "import numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from skxai.saliency import Occlusion\n"
        "import skxai.metrics, skxai.similarity, skxai.contrastive\n"
        "X = np.random.default_rng(0).random((20, 16))\n"
        "y = np.arange(20) % 2\n"
        "clf = LogisticRegression().fit(X, y)\n"
        "Occlusion(clf, window=(2, 2), image_shape=(4, 4)).fit(X).explain(X[:2])\n"
        "bad = [m for m in sys.modules\n"
        "       if m.startswith(('skxai.plotting', 'matplotlib'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_contrastive_explanation_plot_uses_its_display(pyplot):
    """Check that ContrastiveExplanation.plot draws with ContrastiveDisplay."""
    from skxai.contrastive import ContrastiveExplanation
    from skxai.plotting import ContrastiveDisplay

    rng = np.random.default_rng(0)
    expl = ContrastiveExplanation(
        maps=np.zeros((2, 1, 4, 4)), delta=rng.random((2, 4, 4)),
        found=np.array([True, False]), images=rng.random((2, 4, 4)),
        original_class=np.array([1, 2]), new_class=np.array([3, 2]),
        params={"mode": "pn"},
    )
    disp = expl.plot()
    assert isinstance(disp, ContrastiveDisplay)
    assert disp.status_ == ["found", "not found"]


def test_plot_of_an_empty_explanation_is_a_clear_error(pyplot):
    """Check that plotting an explanation of no sample says so, for images,
    tables and similarity explanations, instead of a reshape error."""
    from sklearn.linear_model import LogisticRegression

    from skxai import Occlusion
    from skxai.similarity import SimilarityExplanation

    X = np.random.default_rng(0).random((20, 16))
    clf = LogisticRegression().fit(X, np.arange(20) % 2)
    empties = [
        Occlusion(clf, window=(2, 2), image_shape=(4, 4)).fit(X).explain(X[:0]),
        Occlusion(clf).fit(X).explain(X[:0]),
        SimilarityExplanation(
            np.zeros((0, 3)), ordered_indices=np.zeros((0, 3), dtype=int),
            most_similar=np.zeros((0, 3), dtype=int), images=np.zeros((0, 4, 4)),
        ),
    ]
    for expl in empties:
        with pytest.raises(ValueError, match="needs at least one sample"):
            expl.plot()
