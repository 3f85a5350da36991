# Set-up steps shared by scripts/quickstart.sh and scripts/test.sh (source it; run from the repo
# root). Debian/Ubuntu packages are installed with apt-get, with sudo when not root.
#
#   ensure_vulkan_driver   installs the software Vulkan driver (lavapipe, mesa-vulkan-drivers)
#                          when no Vulkan driver is installed at all; a GPU's vendor driver is
#                          used instead when there is one.
#   ensure_python_venv     creates the project-local venv .venv/ (git-ignored) with the packages
#                          of tools/python (numpy, zstandard) unless it already has them. The
#                          Python tools and the Rust tests that run Python use .venv/bin/python3
#                          when it exists, so nothing needs activating.

# The packages tools/python needs (read_mds.py; the Rust reader is cross-checked against it).
PYTHON_PACKAGES=(numpy zstandard)
VENV_DIR=.venv

apt_install() {
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: cannot install $* here (no apt-get); install them with your package manager" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -q
    "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "$@"
}

have_vulkan_icd() {
    compgen -G "/usr/share/vulkan/icd.d/*.json" >/dev/null || compgen -G "/etc/vulkan/icd.d/*.json" >/dev/null
}

ensure_vulkan_driver() {
    if ! have_vulkan_icd; then
        echo "setup: no Vulkan driver found; installing mesa-vulkan-drivers (software renderer)"
        apt_install mesa-vulkan-drivers libvulkan1
    fi
}

# Creates $VENV_DIR with the interpreter `python3` (or installs python3 and python3-venv first
# where `python3 -m venv` cannot work: no python3, or Debian's python3 without ensurepip).
make_venv() {
    if command -v python3 >/dev/null 2>&1 && python3 -m venv "$VENV_DIR" >/dev/null 2>&1; then
        return 0
    fi
    rm -rf "$VENV_DIR" # a failed `python3 -m venv` leaves a venv without pip
    echo "setup: python3 -m venv is not available; installing python3-venv"
    apt_install python3 python3-venv
    python3 -m venv "$VENV_DIR"
}

ensure_python_venv() {
    local py="$VENV_DIR/bin/python3"
    if [ -x "$py" ] && "$py" -c "import numpy, zstandard" >/dev/null 2>&1; then
        return 0
    fi
    # A venv that lost its interpreter (python upgraded or removed) or never got pip is rebuilt.
    if ! { [ -x "$py" ] && "$py" -m pip --version >/dev/null 2>&1; }; then
        rm -rf "$VENV_DIR"
        echo "setup: creating the Python venv $VENV_DIR/"
        make_venv
    fi
    echo "setup: installing ${PYTHON_PACKAGES[*]} into $VENV_DIR/"
    "$py" -m pip install --quiet --disable-pip-version-check "${PYTHON_PACKAGES[@]}"
    "$py" -c "import numpy, zstandard"
}

# The Vulkan loader's Mesa device-selection layer prints "error: XDG_RUNTIME_DIR is invalid or not
# set in the environment." on every adapter enumeration when XDG_RUNTIME_DIR is unset (it asks a
# Wayland compositor which GPU it uses). The `render` binary sets it itself; tests that create a
# renderer in-process cannot, so the scripts set the same harmless value (a directory that does
# not exist: no Wayland socket is found, nothing is printed). See docs/cli-render.md.
quiet_window_system_probe() {
    case "${XDG_RUNTIME_DIR:-}" in
        /*) ;;
        *) export XDG_RUNTIME_DIR=/nonexistent/ssl-utility-headless ;;
    esac
}
