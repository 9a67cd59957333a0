#!/usr/bin/env bash
# Formats the project's C and C++ files by .clang-format (Google base, 110
# columns). The result depends on the clang-format version: scripts/setup.sh
# installs Debian 12's (14); another one may be given as $CLANG_FORMAT.
# Usage: scripts/format.sh           reformat every file in place
#        scripts/format.sh --check   change nothing; list the files that are
#                                    not formatted and exit 1 if there are any
# Exit status 2: clang-format is missing or the arguments are wrong.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

cf="${CLANG_FORMAT:-clang-format}"
if ! command -v "$cf" >/dev/null 2>&1; then
  echo "format.sh: $cf not found (scripts/setup.sh installs it)" >&2
  exit 2
fi

version=$("$cf" --version | grep -oE '[0-9]+\.[0-9]+' | head -1)
if [[ "${version%%.*}" != 14 ]]; then
  echo "format.sh: note: $cf is version $version; .clang-format was tuned with 14, so line breaks may differ" >&2
fi

# The project's own sources: what git knows and does not ignore (so no build
# folders); outside a git checkout, every such file but the build folders.
files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [[ -f "$f" ]] && files+=("$f")
  done < <(git ls-files -z --cached --others --exclude-standard -- '*.c' '*.h' '*.cc' '*.cpp' '*.hpp')
else
  while IFS= read -r -d '' f; do
    files+=("${f#./}")
  done < <(find . \( -path ./.git -o -path './build' -o -path './build-*' \) -prune -o \
                \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.hpp' \) \
                -type f -print0)
fi

if [[ $check -eq 0 ]]; then
  [[ ${#files[@]} -gt 0 ]] && "$cf" --style=file -i "${files[@]}"
  echo "format.sh: formatted ${#files[@]} files"
  exit 0
fi

unformatted=0
for f in "${files[@]}"; do
  if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
    lines=$("$cf" --style=file "$f" | diff "$f" - | grep -c '^[<>]' || true)
    echo "  $f ($lines lines differ)"
    unformatted=$((unformatted + 1))
  fi
done
if [[ $unformatted -gt 0 ]]; then
  echo "format.sh: $unformatted of ${#files[@]} files are not formatted by .clang-format; run scripts/format.sh" >&2
  exit 1
fi
echo "format.sh: all ${#files[@]} files are formatted"
