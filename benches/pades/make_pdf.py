"""Writes a one-page PDF of about SIZE bytes: a page that draws a line of
text and an image XObject whose (uncompressed) samples fill the rest, then
FILLERS small dictionary objects after it (default none).

Usage: python3 make_pdf.py SIZE OUT.pdf [FILLERS]
"""
import os
import sys


def main():
    size, out = int(sys.argv[1]), sys.argv[2]
    fillers = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    side = max(1, int(((max(size - 2000, 3)) / 3) ** 0.5))
    samples = os.urandom(side * side * 3)
    content = b"BT /F1 24 Tf 72 760 Td (Cong van - benchmark) Tj ET q 400 0 0 400 100 200 cm /Im1 Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, len(samples))
        + samples + b"\nendstream",
    ]
    objects += [b"<< /Kind /Filler /I %d >>" % i for i in range(fillers)]
    buf = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(buf))
        buf += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(buf)
    buf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        buf += b"%010d 00000 n \n" % off
    buf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    with open(out, "wb") as f:
        f.write(buf)


if __name__ == "__main__":
    main()
