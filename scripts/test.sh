#!/usr/bin/env bash
# The test command: sets up what the tests need, then runs every test of the workspace.
#
#  1. installs the software Vulkan driver when no Vulkan driver is present (Debian/Ubuntu, needs
#     root or sudo; the renderer tests run on it, or on a GPU with its vendor driver);
#  2. creates the project-local Python venv .venv/ with numpy + zstandard (the Python MDS reader
#     tools/python/read_mds.py is cross-checked against the Rust reader); on Debian/Ubuntu it
#     installs python3-venv first when `python3 -m venv` cannot work. The tests and the Python
#     tools find .venv/bin/python3 themselves: nothing to activate;
#  3. runs `cargo test --workspace --locked` with this script's arguments appended, e.g.
#     `scripts/test.sh storage_python` (a test-name filter) or `scripts/test.sh -- --nocapture`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

ensure_vulkan_driver
ensure_python_venv
quiet_window_system_probe

echo "test: cargo test --workspace --locked $*"
exec cargo test --workspace --locked "$@"
