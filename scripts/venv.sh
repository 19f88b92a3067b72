# Sourced by scripts/python-tools.sh (the e2e tests' clients) and bench/python-taps.sh (the bench's
# Python taps): the one way this project builds a project-local virtual environment.
#
# make_venv LABEL DIR PACKAGES...  builds DIR with PACKAGES unless its .stamp says it already holds
# exactly them, for this Python and these pip/setuptools pins; so two scripts that want the same venv
# (both install target-jsonl) share it instead of rebuilding it in turn. Returns non-zero when the
# venv cannot be built: the caller decides whether that fails it (CI) or is reported (the bench).
VENV_BOOTSTRAP=(pip 'setuptools<70' wheel)

make_venv() {
  local label=$1 dir=$2
  shift 2
  local stamp
  stamp="$("${PY:-python3}" --version 2>&1); ${VENV_BOOTSTRAP[*]}; $*"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    echo "$label: $dir is up to date"
    return 0
  fi
  echo "$label: building $dir ($*)"
  rm -rf "$dir"
  "${PY:-python3}" -m venv "$dir" \
    && "$dir/bin/pip" install -q --disable-pip-version-check --upgrade "${VENV_BOOTSTRAP[@]}" \
    && "$dir/bin/pip" install -q --disable-pip-version-check "$@" \
    && echo "$stamp" > "$dir/.stamp" \
    && echo "$label: $dir ready"
}
