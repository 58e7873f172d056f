#!/bin/sh
# `cmake --install` into a staging folder (DESTDIR) and checks what landed:
# the three programs, the web page and migrations identical to the source
# tree's, the manual pages (rendered without a warning when man is there),
# the units and the environment file naming the installed paths, the
# environment file readable by root only; the installed sitrd and sitr-admin
# default to the installed data while the build tree's default to the
# source tree; and, when systemd-analyze is there, the unit's exposure score
# stays "OK" (at most 2.0).  Exits 1 at the first difference.
#
#   test_install.sh SRC BUILD BINDIR SBINDIR DATADIR MANDIR UNITDIR CONFDIR
set -eu
src="$1" build="$2" bindir="$3" sbindir="$4" datadir="$5" mandir="$6" unitdir="$7" confdir="$8"
dest="$(mktemp -d)"
trap 'rm -rf "$dest"' EXIT
fail() { echo "install_tree: $*" >&2; exit 1; }

DESTDIR="$dest" cmake --install "$build" >/dev/null

for f in "$bindir/sitr" "$bindir/sitr-admin" "$sbindir/sitrd"; do
    [ -x "$dest$f" ] || fail "$f is not installed"
done
for f in "$src"/service/web/*; do
    cmp -s "$f" "$dest$datadir/web/${f##*/}" || fail "web/${f##*/} is not installed as it is"
done
for f in "$src"/migrations/*.sql; do
    cmp -s "$f" "$dest$datadir/migrations/${f##*/}" || fail "migrations/${f##*/} is not installed"
done
for m in man1/sitr.1 man8/sitrd.8 man8/sitr-admin.8; do
    [ -s "$dest$mandir/$m" ] || fail "$m is not installed"
    grep -q '@[A-Z_]*@' "$dest$mandir/$m" && fail "$m has an unsubstituted @VARIABLE@"
    if command -v man >/dev/null 2>&1; then
        warn="$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$dest$mandir/$m" 2>&1 >/dev/null)"
        [ -z "$warn" ] || fail "$m: $warn"
    fi
done

# The units and the environment file name the installed paths.
for u in sitrd.service sitrd@.service; do
    f="$dest$unitdir/$u"
    [ -s "$f" ] || fail "$u is not installed in $unitdir"
    grep -q "^ExecStart=$sbindir/sitrd\\( \\|\$\\)" "$f" || fail "$u does not start $sbindir/sitrd"
    grep -q "^EnvironmentFile=$confdir/sitrd.env\$" "$f" || fail "$u does not read $confdir/sitrd.env"
    grep -q '^User=sitr$' "$f" || fail "$u does not run as sitr"
done
env="$dest$confdir/sitrd.env"
[ -s "$env" ] || fail "sitrd.env is not installed in $confdir"
[ "$(stat -c %a "$env")" = 600 ] || fail "sitrd.env is mode $(stat -c %a "$env"), not 600"
grep -q "^SITR_DIGEST_KEY_FILE=$confdir/digest.key\$" "$env" || fail "sitrd.env: no digest key file"
grep -q "^#SITR_WEB_DIR=$datadir/web\$" "$env" || fail "sitrd.env: the web page is not $datadir/web"

# Defaults: installed programs read the installed data, the build tree's the
# source tree's (common/include/sitr/datadir.h).
"$dest$sbindir/sitrd" --help | grep -q "env SITR_WEB_DIR, default $datadir/web\$" ||
    fail "the installed sitrd does not default to $datadir/web"
"$dest$sbindir/sitrd" --help | grep -q "env SITR_MIGRATIONS_DIR, default $datadir/migrations\$" ||
    fail "the installed sitrd does not default to $datadir/migrations"
"$dest$bindir/sitr-admin" --help | grep -q "then $datadir/migrations)" ||
    fail "the installed sitr-admin does not default to $datadir/migrations"
"$build/service/sitrd" --help | grep -q "env SITR_WEB_DIR, default $src/service/web\$" ||
    fail "the build tree's sitrd does not default to $src/service/web"
"$build/tools/sitr-admin" --help | grep -q "then $src/migrations)" ||
    fail "the build tree's sitr-admin does not default to $src/migrations"

if command -v systemd-analyze >/dev/null 2>&1; then
    for u in sitrd.service sitrd@.service; do
        systemd-analyze security --offline=yes --threshold=20 "$dest$unitdir/$u" >/dev/null 2>&1 ||
            fail "$u: systemd-analyze security rates it above 2.0 (run it to see why)"
    done
else
    echo "install_tree: systemd-analyze not installed, exposure score not checked"
fi
echo "install_tree: ok"
