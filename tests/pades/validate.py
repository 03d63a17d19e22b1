"""Judges PDF signatures with pyHanko, many files in ONE process.

Usage: python3 validate.py ROOTS.pem FILE.pdf [FILE.pdf ...]
Prints one JSON object per file on stdout:
  {"file": ..., "error": null | "...", "signatures": {field: summary}}
where summary is {"valid": bool, "intact": bool, "trusted": bool,
"coverage": "ENTIRE_FILE" | ..., "modification_level": "NONE" | ...,
"timestamp": null | {"intact", "trusted"}}.
Reading is non-strict; the only trust anchors are the certificates in
ROOTS.pem (one or more); no revocation checks (offline).
"""
import json
import sys

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


def load_roots(path):
    with open(path, "rb") as f:
        data = f.read()
    if not pem.detect(data):
        return [x509.Certificate.load(data)]
    return [x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True)]


def judge(path, roots):
    out = {"file": path, "error": None, "signatures": {}}
    try:
        with open(path, "rb") as f:
            reader = PdfFileReader(f, strict=False)
            for sig in reader.embedded_signatures:
                name = sig.field_name
                try:
                    ctx = ValidationContext(trust_roots=roots, allow_fetching=False,
                                            revocation_mode="soft-fail")
                    ts_ctx = ValidationContext(trust_roots=roots, allow_fetching=False,
                                               revocation_mode="soft-fail")
                    st = validate_pdf_signature(sig, ctx, ts_validation_context=ts_ctx)
                    ts = st.timestamp_validity
                    out["signatures"][name] = {
                        "valid": bool(st.bottom_line),
                        "intact": bool(st.intact),
                        "trusted": bool(st.trusted),
                        "coverage": st.coverage.name if st.coverage else None,
                        "modification_level": st.modification_level.name
                        if st.modification_level else None,
                        "timestamp": None if ts is None else {
                            "intact": bool(ts.intact), "trusted": bool(ts.trusted),
                            "at": ts.timestamp.isoformat()},
                    }
                except Exception as e:  # one signature's failure, not the file's
                    out["signatures"][name] = {"valid": False, "error": repr(e)[:300]}
    except Exception as e:
        out["error"] = repr(e)[:300]
    return out


def main():
    roots = load_roots(sys.argv[1])
    for path in sys.argv[2:]:
        print(json.dumps(judge(path, roots)), flush=True)


if __name__ == "__main__":
    main()
