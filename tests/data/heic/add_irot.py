#!/usr/bin/env python3
"""Adds an essential 'irot' (rotation) property to the primary image of a
HEIF file written by heif-enc 1.15 (which cannot write one), as an iPhone
stores a photo taken with the phone turned: pixels as the sensor read them,
the rotation in 'irot'.  Usage: add_irot.py IN OUT ANGLE (ANGLE 0..3, in
units of 90 degrees anticlockwise).  Fixes the box sizes on the way and the
file offsets in 'iloc' that the longer 'meta' box moves."""
import struct
import sys


def boxes(buf, start, end):
    """(offset, size, type, header length) of each box in buf[start:end]."""
    out = []
    p = start
    while p < end:
        size, kind = struct.unpack('>I4s', buf[p:p + 8])
        assert size >= 8, 'large or open-ended boxes are not handled'
        out.append((p, size, kind.decode('latin1'), 8))
        p += size
    return out


def find(buf, start, end, kind):
    for b in boxes(buf, start, end):
        if b[2] == kind:
            return b
    raise SystemExit(f'no {kind} box')


def main():
    src, dst, angle = sys.argv[1], sys.argv[2], int(sys.argv[3])
    assert 0 <= angle <= 3
    buf = bytearray(open(src, 'rb').read())
    meta = find(buf, 0, len(buf), 'meta')
    m0, m1 = meta[0] + 12, meta[0] + meta[1]  # meta is a full box
    primary = struct.unpack('>H', buf[find(buf, m0, m1, 'pitm')[0] + 12:][:2])[0]
    iprp = find(buf, m0, m1, 'iprp')
    ipco = find(buf, iprp[0] + 8, iprp[0] + iprp[1], 'ipco')
    ipma = find(buf, iprp[0] + 8, iprp[0] + iprp[1], 'ipma')
    index = len(boxes(buf, ipco[0] + 8, ipco[0] + ipco[1])) + 1  # 1-based
    # The new association in ipma.
    version, flags = buf[ipma[0] + 8], int.from_bytes(buf[ipma[0] + 9:ipma[0] + 12], 'big')
    wide_id, wide_index = version >= 1, flags & 1
    p = ipma[0] + 16
    count = struct.unpack('>I', buf[ipma[0] + 12:ipma[0] + 16])[0]
    insert_at = None
    for _ in range(count):
        item = int.from_bytes(buf[p:p + (4 if wide_id else 2)], 'big')
        p += 4 if wide_id else 2
        n = buf[p]
        if item == primary:
            buf[p] = n + 1
            insert_at = p + 1 + n * (2 if wide_index else 1)
        p += 1 + n * (2 if wide_index else 1)
    assert insert_at is not None, 'primary item has no properties'
    assoc = struct.pack('>H', 0x8000 | index) if wide_index else bytes([0x80 | index])
    irot = struct.pack('>I4sB', 9, b'irot', angle)
    # Insert the later one first so that the earlier offset stays right.
    ipco_end = ipco[0] + ipco[1]
    assert ipco_end <= insert_at
    buf[insert_at:insert_at] = assoc
    buf[ipco_end:ipco_end] = irot
    grow = {ipma[0]: len(assoc), ipco[0]: len(irot), iprp[0]: len(assoc) + len(irot),
            meta[0]: len(assoc) + len(irot)}
    for off, by in grow.items():
        shift = len(irot) if off >= ipco_end else 0
        o = off + shift
        struct.pack_into('>I', buf, o, struct.unpack('>I', buf[o:o + 4])[0] + by)
    delta = len(assoc) + len(irot)
    # iloc: every extent in the file after meta moved by delta.
    meta_end_old = meta[0] + meta[1]
    iloc = find(buf, m0, m1 + delta, 'iloc')
    p = iloc[0] + 8
    v = buf[p]
    p += 4
    sizes = buf[p:p + 2]
    off_size, len_size, base_size = sizes[0] >> 4, sizes[0] & 15, sizes[1] >> 4
    idx_size = sizes[1] & 15 if v in (1, 2) else 0
    p += 2
    n_items = struct.unpack('>H' if v < 2 else '>I', buf[p:p + (2 if v < 2 else 4)])[0]
    p += 2 if v < 2 else 4

    def field(pos, size):
        return int.from_bytes(buf[pos:pos + size], 'big') if size else 0

    def put(pos, size, value):
        buf[pos:pos + size] = value.to_bytes(size, 'big')

    for _ in range(n_items):
        p += 2 if v < 2 else 4
        method = 0
        if v in (1, 2):
            method = buf[p + 1] & 15
            p += 2
        p += 2  # data_reference_index
        base = field(p, base_size)
        base_pos = p
        p += base_size
        extents = struct.unpack('>H', buf[p:p + 2])[0]
        p += 2
        if method == 0 and base_size and base >= meta_end_old:
            put(base_pos, base_size, base + delta)
        for _ in range(extents):
            p += idx_size
            off = field(p, off_size)
            if method == 0 and not base_size and off >= meta_end_old:
                put(p, off_size, off + delta)
            p += off_size + len_size
    open(dst, 'wb').write(buf)


main()
