#!/bin/sh
# make demo: the README's main job on the bundled sample.  Grows as the product does.
set -eu
B=${BUILD:-build}
"$B"/horizon version
