# Shared by tools/test and tools/quickstart: the Debian packages sitr needs
# and a function that installs the missing ones (as root) or names them.
SITR_DEBIAN_PACKAGES="build-essential cmake pkg-config clang-14 libclang-rt-14-dev
libvips-dev libuv1-dev libpq-dev libhttp-parser-dev libjansson-dev libsodium-dev
libcurl4-openssl-dev libcmocka-dev postgresql-15 postgresql-client-15 curl
libjpeg62-turbo-dev libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
ffmpeg clang-format nodejs chromium wrk poppler-utils"

sitr_install_deps() {
    missing=""
    for p in $SITR_DEBIAN_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "installing missing Debian packages:$missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2 || true
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing >&2
    else
        echo "missing Debian packages:$missing" >&2
        echo "install them with: sudo apt-get install$missing" >&2
        return 1
    fi
}

# npm: Debian ships it as its own package, but NodeSource's nodejs bundles
# it and conflicts with that package, so install it only when the command
# is missing.
sitr_install_npm() {
    command -v npm >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "installing missing Debian package: npm" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm >&2
    else
        echo "missing command npm; install it with: sudo apt-get install npm" >&2
        return 1
    fi
}
