"""pyHanko in-process: signing (PAdES B-B) and validation times.

Usage: python3 pyhanko_bench.py KEYS_DIR FILE.pdf RUNS
Prints JSON: {"file", "bytes", "sign_p50_ms", "sign_per_s", "verify_p50_ms", "verify_per_s"}.
"""
import io
import json
import statistics
import sys
import time

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from asn1crypto import pem, x509


def main():
    keys, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signer = signers.SimpleSigner.load(
        f"{keys}/lanhdao.key.pem", f"{keys}/lanhdao.cert.pem",
        ca_chain_files=(f"{keys}/chain.pem",))
    data = open(path, "rb").read()
    meta = signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES)
    sign_times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        out = signers.sign_pdf(w, meta, signer=signer)
        sign_times.append(time.perf_counter() - t)
    root = open(f"{keys}/root-ca.cert.pem", "rb").read()
    _, _, root = pem.unarmor(root)
    root = x509.Certificate.load(root)
    signed = out.getvalue()
    verify_times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = PdfFileReader(io.BytesIO(signed), strict=False)
        st = validate_pdf_signature(r.embedded_signatures[0],
                                    ValidationContext(trust_roots=[root], allow_fetching=False,
                                                      revocation_mode="soft-fail"))
        assert st.bottom_line, st
        verify_times.append(time.perf_counter() - t)
    s, v = statistics.median(sign_times), statistics.median(verify_times)
    print(json.dumps({"file": path, "bytes": len(data), "sign_p50_ms": round(s * 1000, 2),
                      "sign_per_s": round(1 / s, 1), "verify_p50_ms": round(v * 1000, 2),
                      "verify_per_s": round(1 / v, 1)}))


if __name__ == "__main__":
    main()
