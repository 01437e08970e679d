#!/bin/bash
# Every C file in the repository is clean under the repo's .clang-format:
# exit 1 and name the files that are not (`make format` fixes them).
set -euo pipefail
cd "$(dirname "$0")/.."

bad=$(git ls-files '*.c' '*.h' | while IFS= read -r f; do
	clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -n "$bad" ]; then
	echo "check-format: not clean under .clang-format (run make format):"
	sed 's/^/  /' <<<"$bad"
	exit 1
fi
echo "check-format: ok ($(git ls-files '*.c' '*.h' | wc -l) files, $(clang-format --version))"
