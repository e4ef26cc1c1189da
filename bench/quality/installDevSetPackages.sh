#!/usr/bin/env bash
# Installs the Debian packages whose photographs and artwork make the search-quality development
# set (bench/quality/buildDevSet.ts reads them from /usr/share and skimage's data folder).
set -euo pipefail
packages=(
  gnome-backgrounds
  desktop-base
  sway-backgrounds
  mate-backgrounds
  ukui-wallpapers
  plasma-workspace-wallpapers
  lomiri-wallpapers
  lomiri-wallpapers-16.04
  lomiri-wallpapers-20.04
  lxqt-themes
  tuxpaint-data
  mypaint-data-extras
  python3-skimage
)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
