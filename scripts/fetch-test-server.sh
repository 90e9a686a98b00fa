#!/usr/bin/env bash
# Fetches the jars of mongo-java-server (the stand-in MongoDB used by the tests when neither
# MONGODB_URI nor a mongod binary is available) from Maven Central into .cache/mongo-java-server.
# Idempotent: does nothing when every jar named below is already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pom_dir="$root/test/support/java"
dest="$root/.cache/mongo-java-server"

# The version is read from the pom so that bumping it there re-fetches.
version="$(sed -n '/<artifactId>mongo-java-server<\/artifactId>/{n;s:.*<version>\(.*\)</version>.*:\1:p}' "$pom_dir/pom.xml" | head -n1)"
if [[ -z "$version" ]]; then
  echo "fetch-test-server: cannot read the mongo-java-server version from $pom_dir/pom.xml" >&2
  exit 1
fi

needed=(
  "mongo-java-server-core-$version.jar"
  "mongo-java-server-memory-backend-$version.jar"
)
complete=1
for jar in "${needed[@]}"; do
  [[ -f "$dest/$jar" ]] || complete=0
done
if ((complete)) && compgen -G "$dest/netty-*.jar" >/dev/null && compgen -G "$dest/slf4j-nop-*.jar" >/dev/null; then
  exit 0
fi

if ! command -v mvn >/dev/null 2>&1; then
  echo "fetch-test-server: Maven (mvn) is not installed; install it (apt-get install maven) or set MONGODB_URI" >&2
  exit 1
fi

# Copy into a temporary folder and move it into place, so an interrupted fetch never leaves a
# half-filled cache that the check above would accept.
mkdir -p "$root/.cache"
tmp="$(mktemp -d "$root/.cache/mongo-java-server.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
echo "fetch-test-server: fetching mongo-java-server $version with Maven" >&2
# Maven's output is kept quiet (it prints colour codes even with -q) unless it fails.
if ! (cd "$pom_dir" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory="$tmp") >"$tmp/mvn.log" 2>&1; then
  cat "$tmp/mvn.log" >&2
  exit 1
fi
rm -f "$tmp/mvn.log"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "fetch-test-server: jars in $dest" >&2
