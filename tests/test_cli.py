"""Tests of the ``skxai`` command and its demo."""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import skxai
from skxai.cli import main

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
HAS_TORCH = all(
    importlib.util.find_spec(name) is not None for name in ("torch", "skorch")
)


def test_cli_version(capsys):
    """Check that --version prints the package version and exits cleanly."""
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"skxai {skxai.__version__}"


def test_cli_help(capsys):
    """Check that --help and no command describe the demo."""
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "demo" in capsys.readouterr().out
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "--mnist" in out and "--quick" in out and "--out" in out


def _one_line_error(capsys, *words):
    """Assert stderr is one 'skxai demo: error:' line holding ``words``."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("skxai demo: error:"), err
    for word in words:
        assert word in err, err


def test_cli_bad_mnist_folder(tmp_path, capsys):
    """Check that a missing --mnist folder is a usage error naming the option."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--mnist", str(tmp_path / "no")]) == 2
    _one_line_error(capsys, "--mnist")
    assert not out.exists()


def test_cli_mnist_folder_without_files(tmp_path, capsys):
    """Check that --mnist DIR without the IDX files lists them and downloads
    nothing (before, it went to OpenML and created DIR/openml)."""
    pytest.importorskip("matplotlib")
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    assert main(["demo", "--out", str(tmp_path / "out"), "--mnist", str(mnist)]) == 2
    _one_line_error(capsys, "--mnist", "t10k-images-idx3-ubyte.gz")
    assert list(mnist.iterdir()) == []


def _fake_run_demo(calls):
    def run_demo(out_dir, **kwargs):
        calls.append((out_dir, kwargs))
        return {"figures": [], "tables": [], "report": Path(out_dir) / "report.html"}

    return run_demo


def test_cli_out_must_be_new_or_empty(tmp_path, capsys, monkeypatch):
    """Check that a non-empty --out is refused unless --force, and left as is."""
    pytest.importorskip("matplotlib")
    from skxai import _demo

    calls = []
    monkeypatch.setattr(_demo, "run_demo", _fake_run_demo(calls))
    (tmp_path / "report.html").write_text("mine")
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2
    _one_line_error(capsys, "not empty", "--force")
    assert calls == [] and (tmp_path / "report.html").read_text() == "mine"
    assert main(["demo", "--out", str(tmp_path), "--quiet", "--force"]) == 0
    assert main(["demo", "--out", str(tmp_path / "new" / "dir"), "--quiet"]) == 0
    assert len(calls) == 2 and (tmp_path / "new" / "dir").is_dir()


def test_cli_out_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    """Check that a file, a path under a file and a failing write give a
    one-line error and status 2, not a traceback."""
    pytest.importorskip("matplotlib")
    from skxai import _demo

    calls = []
    monkeypatch.setattr(_demo, "run_demo", _fake_run_demo(calls))
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["demo", "--out", str(afile)]) == 2
    _one_line_error(capsys, "is a file")
    assert main(["demo", "--out", str(afile / "sub")]) == 2
    _one_line_error(capsys, "cannot create")
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    assert main(["demo", "--out", str(link)]) == 2
    _one_line_error(capsys, "broken symbolic link")
    assert calls == []

    def denied(out_dir, **kwargs):
        raise PermissionError(13, "Permission denied", str(Path(out_dir) / "a.png"))

    monkeypatch.setattr(_demo, "run_demo", denied)
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "Permission denied", "a.png")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root writes into read-only folders",
)
def test_cli_out_not_writable(tmp_path, capsys):
    """Check that a read-only --out folder is a one-line error."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert main(["demo", "--out", str(out)]) == 2
    finally:
        out.chmod(0o700)
    _one_line_error(capsys, "permission denied")


def test_demo_never_writes_through_a_symlink(tmp_path):
    """Check that the demo replaces a link in its folder instead of writing to
    the file it points to (before, a file outside --out was overwritten)."""
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from skxai._demo import _Report

    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("table.csv", "figure.png"):
        (out / name).symlink_to(outside)
    report = _Report(out, verbose=0)
    report.table(pd.DataFrame({"a": [1]}), "table.csv", "a table")
    report.figure(plt.figure(), "figure.png", "s", "t", "c")
    assert outside.read_text() == "keep me"
    for name in ("table.csv", "figure.png"):
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """The output of one quick demo run, through the command line."""
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--quick", "--quiet"]) == 0
    return out


def test_cli_demo_writes_every_file(demo_dir, capsys):
    """Check that the demo writes the black-box figures and tables, the torch
    figures when torch is there, and a report that links every file."""
    expected = [
        f"{model}_{kind}"
        for model in ("logreg", "mlp")
        for kind in ("class_maps.png", "class_averages.png", "maps.csv",
                     "class_averages.csv")
    ]
    if HAS_TORCH:
        expected += [
            "cnn_saliency_training.png", "cnn_saliency_grid.png",
            "cnn_backprop_grid.png", "cnn_similarity.png", "cnn_cem_pn.png",
            "cnn_cem_pp.png", "cnn_curves.png",
        ]
    report = (demo_dir / "report.html").read_text()
    for name in expected:
        path = demo_dir / name
        assert path.exists(), name
        assert path.stat().st_size > 1000, name
        assert f'"{name}"' in report, name
    for png in demo_dir.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{png.name}"' in report
    frame = pd.read_csv(demo_dir / "logreg_maps.csv")
    assert list(frame.columns) == ["sample", "target", "row", "col", "value"]
    assert sorted(frame["target"].unique()) == list(range(10))
    assert len(frame) == frame["sample"].nunique() * 10 * 64
    averages = pd.read_csv(demo_dir / "mlp_class_averages.csv")
    assert set(averages["true_class"]) <= set(range(10))


def test_cli_demo_report_says_what_was_found(demo_dir):
    """Check that the report lists, for each explainer, what it found and what
    it did not: the units of the black-box maps, CEM's found rates and IG's
    completeness deltas; and that no caption calls a missing PP a finding."""
    import html
    import re

    report = html.unescape((demo_dir / "report.html").read_text())
    assert "What each explainer found" in report
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", report)
    found = {name: (yes, no) for name, yes, no in rows}
    assert "logit differences" in found["Occlusion of the LogisticRegression"][0]
    assert "probability differences" in found["Occlusion of the MLPClassifier"][0]
    if not HAS_TORCH:
        return
    ig = next(v for k, v in found.items() if k.startswith("IntegratedGradients"))
    assert "completeness delta" in ig[0]
    for mode, name in (("negatives", "PN"), ("positives", "PP")):
        yes, no = found[f"CEM pertinent {mode} (CNN)"]
        n_found, n = map(int, re.search(r"found for (\d+) of (\d+)", yes).groups())
        assert "found rate" in yes
        if n_found < n:
            assert no != "-"
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", report, re.S)
    pp = next(c for c in captions if c.startswith("CEM PPs"))
    n_shown = int(re.search(r"CEM PPs of (\d+) test images", pp).group(1))
    if "Only" in pp:
        assert re.search(r"not found|empty", pp)
    else:
        assert n_shown >= 1


def test_cli_demo_mnist_without_torch(tmp_path, mnist_dir):
    """Check that --mnist reads the 28x28 images, that the black-box part runs
    alone, and that the report says what was left out."""
    pytest.importorskip("matplotlib")
    from skxai._demo import run_demo

    files = run_demo(tmp_path, mnist=mnist_dir, quick=True, torch=False, verbose=0)
    assert len(files["figures"]) == 4 and len(files["tables"]) == 4
    assert "CNN figures" in files["report"].read_text()
    frame = pd.read_csv(files["tables"][0])
    assert frame["row"].max() == 27 and frame["col"].max() == 27


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_cli_demo_report_in_chromium(demo_dir, tmp_path):
    """Check in headless Chromium that the report renders with every image
    loaded (naturalWidth > 0), and take a screenshot."""
    report = (demo_dir / "report.html").resolve()
    shot = tmp_path / "report.png"
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--allow-file-access-from-files", "--virtual-time-budget=5000"]
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2400", report.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    # Inject a check: the page's title becomes the count of broken images.
    probe = demo_dir / "_probe.html"
    page = report.read_text().replace(
        "</body>",
        "<script>window.addEventListener('load', () => {"
        "const imgs = [...document.images];"
        "const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0));"
        "const rows = document.querySelectorAll('table.findings tr').length;"
        "document.body.setAttribute('data-result', "
        "imgs.length + ':' + bad.length + ':' + rows);"
        "});</script></body>",
    )
    probe.write_text(page)
    dom = subprocess.run(
        [*flags, "--dump-dom", probe.resolve().as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout
    probe.unlink()
    n_images = page.count("<img ")
    n_rows = page.count("<tr>")  # the findings table, header included
    assert n_rows >= 3
    assert f'data-result="{n_images}:0:{n_rows}"' in dom
