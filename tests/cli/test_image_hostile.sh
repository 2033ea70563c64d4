#!/usr/bin/env bash
# Batches over a folder mixing photos with hostile files (a JPEG whose scan
# uses Huffman tables no DHT segment defines, a PNG whose data inflates far
# past its declared size, a PSD declaring 0 channels, a truncated JPEG):
# 'saccade caption DIR' and 'saccade saliency DIR' report each bad file with
# its reason, process every good one, and exit 1 as their help says. A FIFO
# in the folder is not an input (the walk takes regular files); named on the
# command line it is refused at once, without waiting for a writer.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/clihostile.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
mix="$tmp/mix"
mkdir -p "$mix"
cp "$src/assets/samples/chelsea.jpg" "$src/assets/samples/coffee.jpg" "$mix/"
"$py" - "$src/assets/samples/astronaut.jpg" "$mix" "$src/assets/samples/chelsea-map.png" <<'PY'
import struct, sys, zlib
src, out = sys.argv[1], sys.argv[2]
b = open(src, 'rb').read()
# drop every DHT segment (before the first scan)
i, o = 2, bytearray(b[:2])
while b[i + 1] != 0xDA:
    n = struct.unpack('>H', b[i + 2:i + 4])[0]
    if b[i + 1] != 0xC4: o += b[i:i + 2 + n]
    i += 2 + n
o += b[i:]
open(out + '/no_dht.jpg', 'wb').write(bytes(o))
open(out + '/truncated.jpg', 'wb').write(b[:len(b) // 2])
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
z = zlib.compressobj(9)
data = b''.join(z.compress(bytes(1 << 20)) for _ in range(64)) + z.flush()
open(out + '/bomb.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 100, 100, 8, 0, 0, 0, 0))
                                    + chunk(b'IDAT', data) + chunk(b'IEND', b''))
# chelsea-map.png with its IDAT CRC wrong (data intact), and with a tEXt chunk
# whose CRC is wrong (ancillary: not checked, as libpng warns and reads on)
m = open(sys.argv[3], 'rb').read()
i = m.index(b'IDAT'); n = struct.unpack('>I', m[i - 4:i])[0]; c = i + 4 + n
open(out + '/bad_crc.png', 'wb').write(m[:c] + bytes(x ^ 0xFF for x in m[c:c + 4]) + m[c + 4:])
t = struct.pack('>I', 5) + b'tEXtab\0cd' + bytes(4)
open(out + '/text_crc.png', 'wb').write(m[:33] + t + m[33:])
open(out + '/zero_channels.psd', 'wb').write(b'8BPS' + struct.pack('>H6xHIIHH', 1, 0, 2, 2, 8, 3) + bytes(14))
PY
mkfifo "$mix/fifo.png"

# info decodes: every damaged file is reported with its reason (exit 1), every
# good one described; --json gives each file a line.
check "info over the folder exits 1" 1 "$cli" info "$mix"/*.*
cp "$tmp/out" "$tmp/info.out"; cp "$tmp/err" "$tmp/info.err"
expect_grep "info: truncated jpeg reason" "$tmp/info.err" "^saccade: $mix/truncated.jpg: truncated or corrupt jpeg data"
expect_grep "info: bomb reason" "$tmp/info.err" "^saccade: $mix/bomb.png: png data inflates to more than the 10100 bytes"
expect_grep "info: crc reason" "$tmp/info.err" "^saccade: $mix/bad_crc.png: corrupt png data \(IDAT chunk at byte [0-9]+ fails its CRC\)"
expect_grep "info: no-DHT reason" "$tmp/info.err" "^saccade: $mix/no_dht.jpg: corrupt jpeg: scan 1 uses DC Huffman table 0"
expect_grep "info: psd reason" "$tmp/info.err" "^saccade: $mix/zero_channels.psd: psd declares 0 channels"
expect_grep "info: fifo reason" "$tmp/info.err" "^saccade: $mix/fifo.png: is a FIFO, not a regular file"
yes_ "info: six unreadable files, six reasons" '[ $(wc -l <"$tmp/info.err") -eq 6 ]'
expect_grep "info: good jpeg described" "$tmp/info.out" "^$mix/coffee.jpg: jpeg image, 600 x 400"
expect_grep "info: ancillary CRC not checked" "$tmp/info.out" "^$mix/text_crc.png: png image, 14 x 14"
yes_ "info: damaged files not described" '! grep -q "truncated.jpg\|bomb.png\|bad_crc.png" "$tmp/info.out"'
check "info one truncated jpeg exits 1" 1 "$cli" info "$mix/truncated.jpg"
check "info --json over the folder exits 1" 1 "$cli" info --json "$mix"/*.*
pycheck "info --json: a line per file, errors named" "
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
by = {l['path'].rsplit('/', 1)[1]: l for l in lines}
assert len(lines) == 9, lines
for f in ('truncated.jpg', 'bomb.png', 'bad_crc.png', 'no_dht.jpg', 'zero_channels.psd', 'fifo.png'):
    assert set(by[f]) == {'path', 'error'} and not by[f]['error'].startswith(by[f]['path']), by[f]
assert by['truncated.jpg']['error'] == 'truncated or corrupt jpeg data (the file ends inside the data of scan 1)', by['truncated.jpg']
assert by['coffee.jpg']['width'] == 600 and 'error' not in by['coffee.jpg']
" "$tmp/out"
check "bad CRC png refused by saliency" 1 "$cli" saliency "$mix/bad_crc.png" -o "$tmp/crc.png"
rm "$mix/bad_crc.png" "$mix/text_crc.png"

check "caption DIR with bad files exits 1" 1 "$cli" caption "$mix" --json
cp "$tmp/out" "$tmp/caption.json"; cp "$tmp/err" "$tmp/caption.err"
yes_ "caption: both photos captioned" "[ \$(grep -c '\"caption\"' '$tmp/caption.json') -eq 2 ]"
expect_grep "caption: no DHT reason" "$tmp/caption.err" "no_dht.jpg: .*DC Huffman table 0, which no DHT segment"
expect_grep "caption: bomb reason" "$tmp/caption.err" "bomb.png: .*inflates to more than the 10100 bytes"
expect_grep "caption: psd reason" "$tmp/caption.err" "zero_channels.psd: .*psd declares 0 channels"
expect_grep "caption: truncated reason" "$tmp/caption.err" "truncated.jpg: truncated or corrupt jpeg"

check "saliency DIR with bad files exits 1" 1 "$cli" saliency "$mix" -o "$tmp/sal"
cp "$tmp/err" "$tmp/saliency.err"
yes_ "saliency: both photos written" "[ -s '$tmp/sal/chelsea.spectral.png' ] && [ -s '$tmp/sal/coffee.spectral.png' ]"
for f in no_dht.jpg bomb.png zero_channels.psd truncated.jpg; do
  expect_grep "saliency: $f reported" "$tmp/saliency.err" "$f"
done
yes_ "saliency: nothing written for bad files" "[ \$(ls '$tmp/sal' | wc -l) -eq 2 ]"
check "FIFO named on the command line" 1 "$cli" caption "$mix/fifo.png"
expect_grep "FIFO reason" "$tmp/err" "fifo.png: is a FIFO, not a regular file"

# an image piped to /dev/stdin (the documented way to read one from standard input)
check "saliency /dev/stdin from a pipe" 0 sh -c "cat '$mix/chelsea.jpg' | '$cli' saliency /dev/stdin -o '$tmp/piped.png'"
check "/dev/zero refused" 1 "$cli" saliency /dev/zero -o "$tmp/zero.png"
expect_grep "/dev/zero reason" "$tmp/err" "/dev/zero: is a character device, not a regular file"
echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]
