"""Tests of the ``skxai`` command and its demo."""

import importlib.util
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


def test_cli_bad_mnist_folder(tmp_path, capsys):
    """Check that a missing --mnist folder is a usage error naming the option."""
    pytest.importorskip("matplotlib")
    with pytest.raises(SystemExit) as info:
        main(["demo", "--out", str(tmp_path), "--mnist", str(tmp_path / "nope")])
    assert info.value.code == 2
    assert "--mnist" in capsys.readouterr().err


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
