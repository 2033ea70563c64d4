#!/usr/bin/env bash
# Writes the man page saccade.1 from the CLI's own help: `saccade --help` gives
# NAME, SYNOPSIS and DESCRIPTION, and each verb it lists gets a section with
# `saccade VERB --help`, so the page never says other than the program.
# usage: tools/man_page.sh SACCADE OUT.1   (run by the build; written atomically)
set -euo pipefail
cli=$1 out=$2
export SACCADE_NO_REEXEC=1
# Help text as roff: no-fill blocks, escaped backslashes, ASCII hyphens
# (options stay copyable), no line taken for a request.
roff() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^[.']/\\\\\\&&/"; }
top=$("$cli" --help)
version=$("$cli" --version)
verbs=$(awk '/^verbs:/ { in_list = 1; next } in_list && /^  [a-z]/ { print $1 } in_list && /^$/ { in_list = 0 }' <<<"$top")
[ -n "$verbs" ] || { echo "man_page.sh: no verbs in '$cli --help'" >&2; exit 1; }
# NAME: the first paragraph after the usage line, as one lower-case phrase.
summary=$(awk 'NR > 1 && /^$/ { if (seen) exit; next } NR > 1 { printf "%s%s", (seen ? " " : ""), $0; seen = 1 }' <<<"$top")
summary=${summary%.}
summary="$(tr '[:upper:]' '[:lower:]' <<<"${summary:0:1}")${summary:1}"
tmp=$(mktemp "$(dirname "$out")/.saccade.1.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
  echo ".TH SACCADE 1 \"\" \"$version\" \"User Commands\""
  echo ".SH NAME"
  echo "saccade \\- $(roff <<<"$summary")"
  echo ".SH SYNOPSIS"
  echo ".nf"
  head -1 <<<"$top" | sed 's/^usage: //' | roff
  echo ".fi"
  echo ".SH DESCRIPTION"
  echo ".nf"
  tail -n +3 <<<"$top" | roff
  echo ".fi"
  for verb in $verbs; do
    help=$("$cli" "$verb" --help) || { echo "man_page.sh: '$cli $verb --help' failed" >&2; exit 1; }
    echo ".SH \"saccade $verb\""
    echo ".nf"
    roff <<<"$help"
    echo ".fi"
  done
} >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
