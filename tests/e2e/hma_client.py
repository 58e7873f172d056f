#!/usr/bin/env python3
"""A Hasher-Matcher-Actioner (HMA 2.x) client that knows nothing of sitr.

It is written only from HMA's documented matching API (the docstrings of
OpenMediaMatch's blueprints/matching.py and its tests): a base URL, with
credentials in it the way a platform configures an HMA client behind an
authenticating proxy (https://user:KEY@host), and the calls

  GET /m/index/status                       {"pdq": {"present", "built_to", "size"}, ...}
  GET /m/lookup?signal=&signal_type=pdq     {"<BANK>": [{"bank_content_id": int,
                                                          "distance": str}]}
  GET /m/raw_lookup?signal=&signal_type=    {"matches": [int, ...]}
      ...&include_distance=true             {"matches": [{"bank_content_id", "distance"}]}
  an unknown signal type                    400 {"message": "No such SignalType ..."}
  an index still loading                    503 {"message": "index not yet ready"}

Standard library only.  Usage:

  hma_client.py ready URL PDQ          a PDQ that is in a bank: every call above
  hma_client.py not-ready URL PDQ      a server whose index is not loaded yet

Exits 0 when every expectation holds, 1 (with the reason) otherwise.
"""

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request


class HMAClient:
    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        self.base = urllib.parse.urlunsplit(
            (parts.scheme, parts.hostname + (":%d" % parts.port if parts.port else ""),
             parts.path.rstrip("/"), "", ""))
        self.auth = None
        if parts.password is not None:
            pair = "%s:%s" % (urllib.parse.unquote(parts.username or ""),
                              urllib.parse.unquote(parts.password))
            self.auth = "Basic " + base64.b64encode(pair.encode()).decode()

    def get(self, path, **params):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url)
        if self.auth:
            req.add_header("Authorization", self.auth)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read().decode())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read().decode())

    def index_status(self):
        return self.get("/m/index/status")

    def lookup(self, signal, signal_type):
        return self.get("/m/lookup", signal=signal, signal_type=signal_type)

    def raw_lookup(self, signal, signal_type, include_distance=False):
        if include_distance:
            return self.get("/m/raw_lookup", signal=signal, signal_type=signal_type,
                            include_distance="true")
        return self.get("/m/raw_lookup", signal=signal, signal_type=signal_type)


def expect(cond, what):
    if not cond:
        print("hma_client: " + what, file=sys.stderr)
        sys.exit(1)


def flow_ready(client, pdq):
    status, body = client.index_status()
    expect(status == 200, "index/status answered %d" % status)
    expect(isinstance(body.get("pdq"), dict), "index/status has no pdq entry")
    expect(body["pdq"]["present"] is True, "the pdq index is not present")
    expect(isinstance(body["pdq"]["built_to"], int), "built_to is not an integer")
    expect(body["pdq"]["size"] >= 1, "the pdq index is empty")

    status, banks = client.lookup(pdq, "pdq")
    expect(status == 200, "lookup answered %d" % status)
    expect(isinstance(banks, dict) and len(banks) == 1, "lookup: not one bank: %r" % banks)
    (bank, matches), = banks.items()
    expect(len(matches) >= 1, "lookup: no match in bank " + bank)
    for m in matches:
        expect(isinstance(m["bank_content_id"], int), "bank_content_id is not an integer")
        expect(isinstance(m["distance"], str), "distance is not a string")
    expect(any(int(m["distance"]) == 0 for m in matches), "the exact hash is not at distance 0")
    ids = sorted(m["bank_content_id"] for m in matches)

    status, raw = client.raw_lookup(pdq, "pdq")
    expect(status == 200, "raw_lookup answered %d" % status)
    expect(sorted(raw["matches"]) == ids, "raw_lookup ids differ from lookup's")

    status, raw = client.raw_lookup(pdq, "pdq", include_distance=True)
    expect(status == 200, "raw_lookup with distance answered %d" % status)
    expect(sorted(m["bank_content_id"] for m in raw["matches"]) == ids,
           "raw_lookup with distance: ids differ")
    expect(all(isinstance(m["distance"], str) for m in raw["matches"]),
           "raw_lookup with distance: distance is not a string")

    # A hash far from everything: no bank at all, and no raw match.
    far = "".join("%x" % (15 - int(c, 16)) for c in pdq)
    status, banks = client.lookup(far, "pdq")
    expect(status == 200 and banks == {}, "a far hash matched: %r" % banks)

    status, err = client.lookup(pdq, "not_a_signal_type")
    expect(status == 400, "an unknown signal type answered %d" % status)
    expect(isinstance(err.get("message"), str) and "SignalType" in err["message"],
           "unknown signal type: no HMA message: %r" % err)


def flow_not_ready(client, pdq):
    status, err = client.lookup(pdq, "pdq")
    expect(status == 503, "lookup before the index is ready answered %d" % status)
    expect(err == {"message": "index not yet ready"}, "not ready: %r" % err)
    status, err = client.raw_lookup(pdq, "pdq")
    expect(status == 503, "raw_lookup before the index is ready answered %d" % status)
    status, body = client.index_status()
    expect(status == 200, "index/status answered %d" % status)
    expect(body["pdq"] == {"present": False, "built_to": -1, "size": 0},
           "index/status before ready: %r" % body["pdq"])


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("ready", "not-ready"):
        print(__doc__, file=sys.stderr)
        return 2
    client = HMAClient(sys.argv[2])
    if sys.argv[1] == "ready":
        flow_ready(client, sys.argv[3])
    else:
        flow_not_ready(client, sys.argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
