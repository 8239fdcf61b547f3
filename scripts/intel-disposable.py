#!/usr/bin/env python3
"""Regenerates src/intel/data/disposable-domains.txt from the PyPI package
`disposable-email-domains` (https://github.com/disposable-email-domains/disposable-email-domains;
licence: MIT per the package metadata, the upstream list itself is CC0).

    python3 scripts/intel-disposable.py [VERSION]

Downloads the wheel with pip (no install, no dependencies), reads its `blocklist`, and writes
one lower-case domain per line, sorted, under a provenance header.
"""
import ast
import pathlib
import subprocess
import sys
import tempfile
import zipfile

OUT = pathlib.Path(__file__).resolve().parent.parent / "src/intel/data/disposable-domains.txt"


def main():
    spec = "disposable-email-domains" + (f"=={sys.argv[1]}" if len(sys.argv) > 1 else "")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp, spec],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        version = wheel.name.split("-")[1]
        with zipfile.ZipFile(wheel) as z:
            src = z.read("disposable_email_domains/__init__.py").decode()
            meta = z.read(next(n for n in z.namelist() if n.endswith("METADATA"))).decode()
    licence = next(
        (l.split(":", 1)[1].strip() for l in meta.splitlines() if l.startswith("License-Expression:")),
        "see upstream",
    )
    # The module is `blocklist = {...}`: read the literal without executing anything.
    tree = ast.parse(src)
    domains = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "blocklist" for t in node.targets):
            domains = ast.literal_eval(node.value)
    if not domains:
        sys.exit("no blocklist in the package")
    clean = sorted({d.strip().lower() for d in domains if d and "." in d and " " not in d})
    header = (
        f"# disposable-email-domains {version} (PyPI), licence {licence};\n"
        "# upstream https://github.com/disposable-email-domains/disposable-email-domains\n"
        "# regenerate with scripts/intel-disposable.py\n"
    )
    OUT.write_text(header + "\n".join(clean) + "\n")
    print(f"{len(clean)} domains -> {OUT}")


if __name__ == "__main__":
    main()
