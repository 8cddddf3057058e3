#!/bin/sh
# Installs the system packages graphkit needs, where it can: as root with apt-get.
# graphviz: the `dot` program that lays out SVGs. chromium: the headless browser that
# tests and times `graphkit render --format html`. dataset-fashion-mnist: the
# demo's data. cmake/g++: the C++ loader. Without root, says what is missing.
set -e
need=""
command -v dot >/dev/null 2>&1 || need="$need graphviz"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need="$need dataset-fashion-mnist"
command -v cmake >/dev/null 2>&1 || need="$need cmake"
command -v g++ >/dev/null 2>&1 || need="$need g++"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing system packages:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
else
    echo "note: missing system packages:$need (install them with: sudo apt-get install$need)" >&2
fi
