# Shared by tools/test and tools/quickstart: the Debian packages sitr needs
# and a function that installs the missing ones (as root) or names them.
SITR_DEBIAN_PACKAGES="build-essential cmake pkg-config clang-14 libclang-rt-14-dev
libvips-dev libuv1-dev libpq-dev libhttp-parser-dev libjansson-dev libsodium-dev
libcurl4-openssl-dev libcmocka-dev postgresql-15 postgresql-client-15 curl
libjpeg62-turbo-dev nodejs"

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
