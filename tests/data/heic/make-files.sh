#!/bin/sh
# Makes the HEIC test files of this folder from the repository's own
# pictures (tests/data/pdq, Meta's bridge photo; its licence is there).
# Needs Debian 12's heif-enc (libheif-examples 1.15.1, x265 3.5 encoder),
# ffmpeg and python3.  x265's output is deterministic for one version and
# these settings; other versions may give other bytes (then the expected
# hashes in the tests come from `sitr hash` anyway, never from this script).
#   tests/data/heic/make-files.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pdq="$here/../pdq/bridge-mods"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"

# 8-bit 4:2:0, the camera's usual layout: 512x512 and the 1600x1004 original.
heif-enc -q 60 -o bridge-512.heic "$pdq/square-512x512.jpg"
heif-enc -q 40 -o bridge-1600x1004.heic "$pdq/aaa-orig.jpg"

# A crop whose size is no multiple of 8 (333x251 asked; heif-enc 1.15 keeps
# even sizes, 332x250), in 4:2:0 and in 4:4:4.
ffmpeg -loglevel error -y -i "$pdq/aaa-orig.jpg" -vf crop=333:251:700:400 -pix_fmt rgb24 "$tmp/crop.png"
heif-enc -q 60 -o bridge-crop-332x250.heic "$tmp/crop.png"
heif-enc -q 60 -p chroma=444 -o bridge-crop-332x250-444.heic "$tmp/crop.png"

# 10 bits per sample (from a 16-bit PNG), 640x402.
ffmpeg -loglevel error -y -i "$pdq/aaa-orig.jpg" -vf scale=640:402 -pix_fmt rgb48be "$tmp/deep.png"
heif-enc -q 60 -b 10 -o bridge-640x402-10bit.heic "$tmp/deep.png"

# Turned as an iPhone stores a photo taken with the phone upright: the
# pixels as read (400x250), the rotation in an 'irot' box (90 degrees
# clockwise) and the same in the Exif metadata (orientation 6).
ffmpeg -loglevel error -y -i "$pdq/aaa-orig.jpg" -vf scale=400:250 -q:v 2 "$tmp/small.jpg"
python3 - "$tmp/small.jpg" "$tmp/small-exif6.jpg" <<'PY'
import struct, sys
jpeg = open(sys.argv[1], 'rb').read()
# Exif APP1: big-endian TIFF header, one IFD with Orientation (0x0112) = 6.
tiff = b'MM\x00\x2a' + struct.pack('>I', 8) + struct.pack('>H', 1) \
    + struct.pack('>HHIHH', 0x0112, 3, 1, 6, 0) + struct.pack('>I', 0)
app1 = b'Exif\x00\x00' + tiff
open(sys.argv[2], 'wb').write(jpeg[:2] + b'\xff\xe1' + struct.pack('>H', len(app1) + 2) + app1 + jpeg[2:])
PY
heif-enc -q 60 -o "$tmp/small.heic" "$tmp/small-exif6.jpg"
python3 "$here/add_irot.py" "$tmp/small.heic" bridge-400x250-irot-exif6.heic 3

ls -l ./*.heic
