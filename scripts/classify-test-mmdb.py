#!/usr/bin/env python3
"""Writes tests/data/classify/test-geo-asn.mmdb, a tiny MaxMind-format database for the
classify `.mmdb` loader's tests, with PyPI `mmdb-writer` (pip install mmdb-writer).

The records are made up for the test (documentation-style values on a few public
prefixes); they describe no real network. Two record shapes are written: the GeoIP2
shape (country.iso_code, subdivisions[].iso_code, city.names.en, autonomous_system_*)
and the flat shape of ip-location-db's mmdb files (country_code, state1, city).
"""
import os
from netaddr import IPSet
from mmdb_writer import MMDBWriter, MmdbU32

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="tower-shield-test",
               languages=["en"], description={"en": "tower-shield classify loader test data"})
w.insert_network(IPSet(["81.2.69.0/24"]), {
    "country": {"iso_code": "GB"},
    "subdivisions": [{"iso_code": "ENG"}],
    "city": {"names": {"en": "London"}},
    "autonomous_system_number": MmdbU32(64500),
    "autonomous_system_organization": "Example Broadband",
})
w.insert_network(IPSet(["2a02:c7c::/32"]), {
    "country_code": "GB",
    "state1": "Scotland",
    "city": "Edinburgh",
})
w.insert_network(IPSet(["89.160.20.0/24"]), {"country": {"iso_code": "SE"}})
out = os.path.join(ROOT, "tests/data/classify/test-geo-asn.mmdb")
w.to_db_file(out)
print(out, os.path.getsize(out))
