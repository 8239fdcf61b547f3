"""Checks that the peer clients in tests/peers are the seeds' own code: each file's
statements, stripped of indentation, appear in order in the seed document.
Usage: python3 check_seed_copies.py SEEDS_DIR"""
import pathlib
import sys

seeds = pathlib.Path(sys.argv[1])
here = pathlib.Path(__file__).parent
pairs = {
    "auspex_seed_client.py": "auspex-verus-ip-classify-api.txt",
    "auspex_seed_client.js": "auspex-verus-ip-classify-api.txt",
    "techsec_seed_client.py": "602techsec-verify-api.txt",
}
failed = False
for peer, seed in pairs.items():
    doc = [l.strip() for l in (seeds / seed).read_text().splitlines()]
    code = [l.strip() for l in (here / peer).read_text().splitlines()]
    code = [l for l in code if l and not l.startswith(("#", "//"))]
    pos = 0
    for line in code:
        try:
            pos = doc.index(line, pos) + 1
        except ValueError:
            print(f"{peer}: line not in {seed} (in order): {line!r}")
            failed = True
            break
print("seed copies:", "MISMATCH" if failed else "ok")
sys.exit(1 if failed else 0)
