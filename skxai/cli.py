"""The ``skxai`` command line.

``skxai demo`` explains digit classifiers and writes figures, CSV tables and an
HTML report; ``skxai --version`` prints the version.
"""

import argparse
import os
import sys
from pathlib import Path

from . import __version__

__all__ = ["main"]


def _parser():
    parser = argparse.ArgumentParser(
        prog="skxai",
        description="skxai: model explanations as scikit-learn estimators.",
    )
    parser.add_argument(
        "--version", action="version", version=f"skxai {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="explain digit classifiers; write figures, CSVs and report.html",
        description=(
            "Fit a LogisticRegression and an MLPClassifier on the digits (or "
            "MNIST), explain them with Occlusion for every class, and, when torch "
            "is installed, a small CNN with gradient saliency, similarity, CEM "
            "and faithfulness curves. Writes PNG figures, tidy CSV tables and "
            "report.html into the output folder."
        ),
    )
    demo.add_argument(
        "--out",
        default="skxai-demo",
        metavar="DIR",
        help=(
            "new or empty folder to write the files to (default: ./skxai-demo)"
        ),
    )
    demo.add_argument(
        "--force",
        action="store_true",
        help=(
            "write into a non-empty --out folder, replacing files of the same "
            "names (a symbolic link is replaced, never written through)"
        ),
    )
    demo.add_argument(
        "--mnist",
        default=None,
        metavar="DIR",
        help=(
            "folder of the MNIST IDX files (read, never downloaded); default: "
            "the embedded 8x8 digits"
        ),
    )
    demo.add_argument(
        "--quick", action="store_true", help="smaller sizes, for a smoke run"
    )
    demo.add_argument(
        "--no-torch",
        action="store_true",
        help="leave out the CNN figures even when torch is installed",
    )
    demo.add_argument(
        "-q", "--quiet", action="store_true", help="print only where files are"
    )
    return parser


def _fail(message):
    """Print a one-line error and return the usage-error status."""
    print(f"skxai demo: error: {message}", file=sys.stderr)
    return 2


def _out_dir_problem(out, force):
    """Why the demo may not write into ``out``, in one line, or None.

    A new folder is created (with its parents). An existing one must be an
    empty, writable folder, or a non-empty one with ``force``.
    """
    if out.is_symlink() and not out.exists():
        return f"--out: {out} is a broken symbolic link"
    if out.exists() and not out.is_dir():
        return f"--out: {out} is a file, not a folder"
    if out.is_dir():
        if not os.access(out, os.W_OK | os.X_OK):
            return f"--out: cannot write to {out} (permission denied)"
        if not force and any(out.iterdir()):
            return (
                f"--out: {out} is not empty; choose a new or empty folder, or "
                "pass --force to replace the demo's files in it"
            )
        return None
    try:
        out.mkdir(parents=True)
    except OSError as exc:
        return f"--out: cannot create {out}: {exc.strerror or exc}"
    return None


def main(argv=None):
    """Run the ``skxai`` command.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        The exit status: 0 on success, 1 when matplotlib is missing, 2 for a
        bad argument or a folder that cannot be written (with a one-line error
        on stderr).

    Examples
    --------
    >>> from skxai.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    skxai 0.1.0.dev0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        try:
            import matplotlib
        except ImportError:
            print(
                "skxai demo requires matplotlib: pip install 'skxai[plot]'",
                file=sys.stderr,
            )
            return 1
        matplotlib.use("Agg")
        from ._demo import run_demo

        if args.mnist is not None:
            from .datasets import _mnist_files_missing

            if not Path(args.mnist).is_dir():
                return _fail(f"--mnist: {args.mnist} is not a folder")
            missing = _mnist_files_missing(args.mnist, subset="test")
            if missing:
                return _fail(f"--mnist: {missing}")
        problem = _out_dir_problem(Path(args.out), args.force)
        if problem:
            return _fail(problem)
        try:
            files = run_demo(
                args.out,
                mnist=args.mnist,
                quick=args.quick,
                torch=False if args.no_torch else "auto",
                verbose=0 if args.quiet else 1,
            )
        except OSError as exc:  # a file that cannot be written, a full disk
            return _fail(f"could not write to {args.out}: {exc}")
        out = Path(args.out).resolve()
        print(
            f"Wrote {len(files['figures'])} figures and {len(files['tables'])} "
            f"tables to {out}"
        )
        print(f"Open {files['report'].resolve()} in a browser to see them all.")
        return 0
    return 0  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
