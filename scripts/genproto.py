#!/usr/bin/env python3
"""Regenerate the kit's protobuf Python code from ``proto/``.

Runs ``python -m grpc_tools.protoc`` (grpcio-tools 1.71.2, whose protoc emits gencode for the
protobuf 5.29.0 runtime) on every ``.proto`` file under ``proto/``, with ``proto/`` as the only
include root so the descriptor pool registers ``angzarr/types.proto`` and so on (the names the
angzarr SDK registers too). Messages and ``.pyi`` stubs only; no gRPC stubs.

protoc writes absolute imports such as ``from angzarr import types_pb2``; they are rewritten to
``from angzarr_testkit._generated.angzarr import types_pb2`` so the code resolves inside the
package and never shadows (or is shadowed by) a top-level ``angzarr`` package.

The output is deterministic: rerunning on unchanged inputs yields byte-identical files, which is
what ``tests/test_proto_drift.py`` checks. Usage::

    python scripts/genproto.py                 # into angzarr_testkit/_generated/
    python scripts/genproto.py --out /tmp/gen  # anywhere else (the drift test does this)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "proto"
DEFAULT_OUT = REPO / "angzarr_testkit" / "_generated"
#: Dotted module path of the output directory inside the installed package.
PACKAGE = "angzarr_testkit._generated"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")

PACKAGE_INIT = '"""Generated protobuf modules ({what}). Do not edit: run scripts/genproto.py."""\n'


def proto_files(root: Path) -> list[str]:
    """Every ``.proto`` under ``root``, as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.proto"))


def top_packages(files: list[str]) -> list[str]:
    """The top-level directories the protos live in (each becomes a Python subpackage)."""
    tops = {f.split("/", 1)[0] for f in files if "/" in f}
    loose = [f for f in files if "/" not in f]
    if loose:
        raise SystemExit(f"genproto: put every .proto in a directory under proto/, not {loose}")
    return sorted(tops)


def run_protoc(python: str, files: list[str], out: Path) -> None:
    """Run protoc through grpc_tools (which adds the well-known-types include by itself)."""
    cmd = [
        python,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        *(str(PROTO_ROOT / f) for f in files),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"genproto: protoc failed (exit {result.returncode}):\n{result.stderr}{result.stdout}"
            "\nIs grpcio-tools installed for this interpreter? (pip install -e '.[dev]')"
        )


def fix_imports(text: str, tops: list[str]) -> str:
    """Point imports of generated sibling modules into the package.

    Also renames the module passed to ``BuildTopDescriptorsAndMessages`` (it becomes the
    classes' ``__module__``), so pickling and reprs name a module that really exists.
    """
    alternatives = "|".join(re.escape(t) for t in tops)
    text = re.sub(
        rf"^from ({alternatives})((?:\.\w+)*) import ",
        rf"from {PACKAGE}.\1\2 import ",
        text,
        flags=re.MULTILINE,
    )
    text = re.sub(
        rf"^import ({alternatives})((?:\.\w+)*)( as \w+)?$",
        rf"import {PACKAGE}.\1\2\3",
        text,
        flags=re.MULTILINE,
    )
    return re.sub(
        rf"BuildTopDescriptorsAndMessages\(DESCRIPTOR, '(({alternatives})\.[\w.]+)'",
        rf"BuildTopDescriptorsAndMessages(DESCRIPTOR, '{PACKAGE}.\1'",
        text,
    )


def render(python: str) -> dict[str, bytes]:
    """Generate everything in memory: ``{relative path: content}``."""
    files = proto_files(PROTO_ROOT)
    if not files:
        raise SystemExit(f"genproto: no .proto files under {PROTO_ROOT}")
    tops = top_packages(files)
    rendered: dict[str, bytes] = {"__init__.py": PACKAGE_INIT.format(what="all").encode()}
    with tempfile.TemporaryDirectory(prefix="genproto-") as tmp:
        tmp_path = Path(tmp)
        run_protoc(python, files, tmp_path)
        for path in sorted(tmp_path.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(tmp_path).as_posix()
            if not rel.endswith(GENERATED_SUFFIXES):
                raise SystemExit(f"genproto: unexpected protoc output {rel}")
            text = path.read_text(encoding="utf-8")
            rendered[rel] = fix_imports(text, tops).encode("utf-8")
    for rel in list(rendered):
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            init = "/".join(parts[:depth]) + "/__init__.py"
            what = "proto package " + ".".join(parts[:depth])
            rendered.setdefault(init, PACKAGE_INIT.format(what=what).encode())
    return dict(sorted(rendered.items()))


def _is_generated(rel: str) -> bool:
    return rel.endswith(GENERATED_SUFFIXES) or rel.rsplit("/", 1)[-1] == "__init__.py"


def write_tree(out: Path, rendered: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """Make ``out`` hold exactly the rendered files; returns (written, removed) paths.

    Files are rewritten only when their content changes. Stale generated files (from a deleted
    .proto) and directories left empty are removed; anything else in ``out`` is left alone.
    """
    written: list[str] = []
    removed: list[str] = []
    for rel, content in rendered.items():
        target = out / rel
        if target.is_file() and target.read_bytes() == content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(rel)
    # Children sort after their parents, so reverse order empties a directory before it is seen.
    for path in sorted(out.rglob("*"), reverse=True):
        rel = path.relative_to(out).as_posix()
        if "__pycache__" in path.parts[len(out.parts) :]:
            continue
        if path.is_file() and _is_generated(rel) and rel not in rendered:
            path.unlink()
            removed.append(rel)
        elif path.is_dir() and all(p.name == "__pycache__" for p in path.iterdir()):
            for cache_dir in path.iterdir():
                for cached in cache_dir.iterdir():
                    cached.unlink()
                cache_dir.rmdir()
            path.rmdir()
            removed.append(rel + "/")
    return written, removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output directory (default: {DEFAULT_OUT.relative_to(REPO)})",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter that has grpcio-tools installed (default: this one)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    written, removed = write_tree(out, render(args.python))
    if not args.quiet:
        for rel in written:
            print(f"wrote   {out / rel}")
        for rel in removed:
            print(f"removed {out / rel}")
        if not written and not removed:
            print(f"up to date: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
