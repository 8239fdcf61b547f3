#!/usr/bin/env python3
"""README snippets and small examples compile with exactly the cargo features they name.

`cargo test` cannot check that: the crate's dev-dependency on itself turns every feature
on for doctests, examples and tests alike. So each is built in a scratch crate under
target/exact-features/ that depends on tower-shield with `default-features = false` and
exactly those features, plus the few crates an app using it has anyway (the versions and
features of Cargo.toml's [dev-dependencies], else [dependencies]), and the crate's own
Cargo.lock. The scratch crates share one target directory, so dependencies build once.

* A README Rust fence names its features in its info string, defaults included:
  ```rust,no_run,features:axum+client-ip+classify  -- built as a doctest (`cargo test --doc`).
* An example is every [[example]] of Cargo.toml with `required-features`: built as a
  binary, type-checked (`cargo check`: codegen would add minutes and prove nothing more)
  with exactly those.

    python3 scripts/exact-features.py             # both
    python3 scripts/exact-features.py readme      # README snippets only
    python3 scripts/exact-features.py examples    # examples only
    python3 scripts/exact-features.py --list      # who needs which features; builds nothing
    python3 scripts/exact-features.py readme --readme=draft.md   # a draft's snippets

Exit status 1 if a Rust fence names no features or an unknown one, or anything fails.
"""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a snippet or an example may `use` besides tower-shield: what an app has anyway.
APP_DEPS = ["axum", "tokio", "tower", "http", "bytes", "serde_json", "http-body-util",
            "hyper", "hyper-util", "tracing", "tracing-subscriber"]
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


def snippets(readme: str):
    """(line, info tokens, fence text) of every fenced block whose language is rust."""
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, marker, info = i, m.group(2), m.group(3).strip()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(marker):
            j += 1
        tokens = [t for t in re.split(r"[,\s]+", info) if t]
        if tokens and tokens[0] == "rust":
            yield start + 1, tokens, "\n".join(lines[start:j + 1]) + "\n"
        i = j + 1


def features_of(tokens):
    named = [t for t in tokens if t.startswith("features:")]
    if len(named) != 1:
        return None
    return [f for f in named[0][len("features:"):].split("+") if f]


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'{k} = {toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(v)


def scratch(out: Path, name: str, manifest: dict, feats, tail: str) -> Path:
    """A scratch crate `name` on tower-shield with exactly `feats`; `tail` ends its manifest."""
    crate = out / name
    crate.mkdir(parents=True, exist_ok=True)
    spec = {"path": str(ROOT), "default-features": False, "features": feats}
    deps = [f"tower-shield = {toml_value(spec)}"]
    dev, normal = manifest.get("dev-dependencies", {}), manifest.get("dependencies", {})
    for dep in APP_DEPS:
        spec = dev.get(dep, normal.get(dep))
        if isinstance(spec, dict):
            spec = {k: v for k, v in spec.items() if k != "optional"}
        if spec is not None:
            deps.append(f"{dep} = {toml_value(spec)}")
    (crate / "Cargo.toml").write_text(
        "[package]\n"
        f'name = "{name}"\nversion = "0.0.0"\n'
        f'edition = "{manifest["package"]["edition"]}"\npublish = false\n\n'
        "[workspace]\n\n[dependencies]\n" + "\n".join(deps) + "\n\n" + tail)
    # The crate's own lock file: the versions its tests use (cargo drops the rest).
    lock = ROOT / "Cargo.lock"
    if lock.exists():
        (crate / "Cargo.lock").write_bytes(lock.read_bytes())
    return crate


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    which = set(args) or {"readme", "examples"}
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    known = set(manifest["features"]) - {"default"}
    readme = next((Path(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--readme=")),
                  ROOT / "README.md")
    found = list(snippets(readme.read_text()))
    examples = [(e["name"], e.get("path", f"examples/{e['name']}.rs"), e["required-features"])
                for e in manifest.get("example", []) if "required-features" in e]
    bad = 0
    for line, tokens, _ in found:
        feats = features_of(tokens)
        if feats is None:
            print(f"{readme.name}:{line}: name the features once: ```rust,...,features:a+b")
            bad += 1
        elif set(feats) - known:
            print(f"{readme.name}:{line}: unknown features {sorted(set(feats) - known)}")
            bad += 1
    if "--list" in sys.argv:
        for line, tokens, _ in found:
            print(f"{readme.name}:{line}: {' '.join(features_of(tokens) or ['(none named)'])}")
        for name, _, feats in examples:
            print(f"example {name}: {' '.join(feats)}")
        return 1 if bad else 0
    if bad:
        return 1

    out = ROOT / "target" / "exact-features"
    env = dict(os.environ, CARGO_TARGET_DIR=str(out / "target"))
    env.pop("RUSTDOCFLAGS", None)
    failed = []
    if "readme" in which:
        for n, (line, tokens, fence) in enumerate(found, 1):
            feats = features_of(tokens)
            crate = scratch(out, f"readme-snippet-{n}", manifest, feats,
                            '[lib]\npath = "lib.rs"\n')
            (crate / "snippet.md").write_text(fence)
            (crate / "lib.rs").write_text(
                f"//! {readme.name} line {line}, features {', '.join(feats)}.\n"
                '#![doc = include_str!("snippet.md")]\n')
            print(f"=== {readme.name}:{line}: features {' '.join(feats)}", flush=True)
            r = subprocess.run(["cargo", "test", "--doc", "--manifest-path",
                                str(crate / "Cargo.toml")], env=env)
            if r.returncode != 0:
                failed.append(f"{readme.name}:{line}")
    if "examples" in which:
        for name, path, feats in examples:
            tail = f'[[bin]]\nname = "{name}"\npath = {toml_value(str(ROOT / path))}\n'
            crate = scratch(out, f"example-{name}", manifest, feats, tail)
            # A package needs a target of its own besides the example's file.
            (crate / "lib.rs").write_text("//! (the example is the binary)\n")
            with open(crate / "Cargo.toml", "a") as f:
                f.write('\n[lib]\npath = "lib.rs"\n')
            print(f"=== example {name}: features {' '.join(feats)}", flush=True)
            r = subprocess.run(["cargo", "check", "--bins", "--manifest-path",
                                str(crate / "Cargo.toml")], env=env)
            if r.returncode != 0:
                failed.append(f"example {name}")
    if failed:
        print(f"failing with exactly their features: {', '.join(failed)}")
        return 1
    print("everything builds with exactly the features it names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
