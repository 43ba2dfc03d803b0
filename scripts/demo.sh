#!/usr/bin/env bash
# Publish the shipped demo catalog into a fresh, signed TUF repository, then
# sync it into a fresh client home and show it. Everything lives in a
# temporary folder that is removed at the end (set KEEP=DIR to keep it).
set -euo pipefail

work="${KEEP:-$(mktemp -d)}"
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

data=$(python -c 'from discreet.demo_data import demo_items_path as p; print(p().parent)')

echo "== publisher: a new TUF repository with fresh Ed25519 keys"
discreet publish init "$work/repo"
echo
echo "== publisher: build, sign and publish the demo bookshop catalog"
discreet publish build "$data/items.jsonl" --taxonomy "$data/taxonomy.json" \
    --notices "$data/notices.json" --name lantern-books --repo "$work/repo"
echo
echo "== device: verify and install the catalog through TUF"
discreet --home "$work/home" sync --from "$work/repo" --root "$work/repo/public/metadata/1.root.json"
echo
echo "== device: the installed catalog"
discreet --home "$work/home" catalog info
