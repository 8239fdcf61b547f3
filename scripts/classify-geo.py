#!/usr/bin/env python3
"""Regenerates the classifier's embedded country geolocation from a registry package.

Usage: python3 scripts/classify-geo.py            (fetches with `npm pack`)
       python3 scripts/classify-geo.py --from DIR (DIR holds the unpacked `package/`)

Input (npm registry, pinned):
  @ip-location-db/geo-whois-asn-country 2.3.2026061719 (snapshot of 2026-06-17)
  Licence: CC0-1.0 (public domain dedication; no attribution required). Built by sapics
  from the RIRs' WHOIS country and ASN-country data.

Outputs (compact, read by src/classify/data/embedded.rs):
  src/classify/data/country-v4.bin   IPv4 ranges
  src/classify/data/country-v6.bin   IPv6 ranges, in /64 units
Each file is a stream of records `varint(gap) varint(len) CC`: the range starts `gap`
units after the previous range's end + 1 (the first after 0), spans `len + 1` units and
has the two-letter ISO 3166-1 code CC. Adjacent ranges of one country are merged first.
IPv6 ranges not aligned on /64 are widened to /64 (the script prints how many).
"""
import csv, ipaddress, os, subprocess, sys, tarfile, tempfile

PKG = "@ip-location-db/geo-whois-asn-country@2.3.2026061719"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "src", "classify", "data")


def varint(n, out):
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return


def encode(path, shift):
    rows = []
    widened = 0
    with open(path, newline="") as f:
        for s, e, cc in csv.reader(f):
            s, e = int(ipaddress.ip_address(s)), int(ipaddress.ip_address(e))
            if len(cc) != 2 or not cc.isascii() or not cc.isalpha():
                continue
            if shift:
                if s & ((1 << shift) - 1) or (e + 1) & ((1 << shift) - 1):
                    widened += 1
                s, e = s >> shift, e >> shift
            cc = cc.upper()
            if rows and rows[-1][2] == cc and rows[-1][1] + 1 >= s:
                rows[-1][1] = max(rows[-1][1], e)
            elif rows and s <= rows[-1][1]:
                # widened /64 overlapping its predecessor: keep the earlier one's span
                if e > rows[-1][1]:
                    rows.append([rows[-1][1] + 1, e, cc])
            else:
                rows.append([s, e, cc])
    out = bytearray()
    nxt = 0
    for s, e, cc in rows:
        varint(s - nxt, out)
        varint(e - s, out)
        out += cc.encode("ascii")
        nxt = e + 1
    return bytes(out), len(rows), widened


def main():
    if "--from" in sys.argv:
        pkg = os.path.join(sys.argv[sys.argv.index("--from") + 1], "package")
        run(pkg)
        return
    with tempfile.TemporaryDirectory() as tmp:
        name = subprocess.run(["npm", "pack", PKG, "--silent"], cwd=tmp, check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(os.path.join(tmp, name)) as t:
            t.extractall(tmp, filter="data")
        run(os.path.join(tmp, "package"))


def run(pkg):
    for fam, shift in (("ipv4", 0), ("ipv6", 64)):
        data, n, widened = encode(os.path.join(pkg, f"geo-whois-asn-country-{fam}.csv"), shift)
        dest = os.path.join(OUT, f"country-v{fam[-1]}.bin")
        with open(dest, "wb") as f:
            f.write(data)
        print(f"{dest}: {n} ranges, {len(data)} bytes, {widened} widened to /64")


if __name__ == "__main__":
    main()
