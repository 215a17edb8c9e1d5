#!/usr/bin/env bash
# Fetches the pinned Chart.js build the page embeds (src/web/vendor/), checks the package's
# hash, and copies its minified UMD build and its licence. The result is committed, so that
# `cargo build` needs neither Node nor the network; run this only to change the version.
#
#     tools/fetch_chartjs.sh
set -euo pipefail
VERSION=4.6.1
SHA256=9345dacdf4bb4c5d40321f4b9aafab6fe676d37a534fc0bc2d17c4c4e29c4f00
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@$VERSION" >/dev/null)
echo "$SHA256  $tmp/chart.js-$VERSION.tgz" | sha256sum -c --quiet -
tar -xzf "$tmp/chart.js-$VERSION.tgz" -C "$tmp" package/dist/chart.umd.min.js package/LICENSE.md
# The source map is not shipped: drop the comment that would make a browser ask for it.
grep -v "^//# sourceMappingURL=" "$tmp/package/dist/chart.umd.min.js" > src/web/vendor/chart.umd.min.js
cp "$tmp/package/LICENSE.md" src/web/vendor/chart.js-LICENSE.md
printf 'Chart.js %s (MIT), from the npm package chart.js-%s.tgz, sha256 %s\n' \
  "$VERSION" "$VERSION" "$SHA256" > src/web/vendor/VERSION
echo "Chart.js $VERSION copied to src/web/vendor/"
