"""Judges PDF signatures with pyHanko, many files in ONE process.

Usage: python3 validate.py ROOT.pem FILE.pdf [FILE.pdf ...]
Prints one JSON object per file on stdout:
  {"file": ..., "error": null | "...", "signatures": {field: summary}}
where summary is {"valid": bool, "intact": bool, "trusted": bool,
"coverage": "ENTIRE_FILE" | ..., "modification_level": "NONE" | ...}.
Reading is non-strict; the only trust anchor is ROOT.pem; no revocation
checks (B-B, offline).
"""
import json
import sys

from asn1crypto import pem, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext


def load_root(path):
    with open(path, "rb") as f:
        data = f.read()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def judge(path, root):
    out = {"file": path, "error": None, "signatures": {}}
    try:
        with open(path, "rb") as f:
            reader = PdfFileReader(f, strict=False)
            for sig in reader.embedded_signatures:
                name = sig.field_name
                try:
                    ctx = ValidationContext(trust_roots=[root], allow_fetching=False,
                                            revocation_mode="soft-fail")
                    st = validate_pdf_signature(sig, ctx)
                    out["signatures"][name] = {
                        "valid": bool(st.bottom_line),
                        "intact": bool(st.intact),
                        "trusted": bool(st.trusted),
                        "coverage": st.coverage.name if st.coverage else None,
                        "modification_level": st.modification_level.name
                        if st.modification_level else None,
                    }
                except Exception as e:  # one signature's failure, not the file's
                    out["signatures"][name] = {"valid": False, "error": repr(e)[:300]}
    except Exception as e:
        out["error"] = repr(e)[:300]
    return out


def main():
    root = load_root(sys.argv[1])
    for path in sys.argv[2:]:
        print(json.dumps(judge(path, root)), flush=True)


if __name__ == "__main__":
    main()
