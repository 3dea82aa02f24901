# test/bench/opts.sh -- option parsing shared by restart.sh and threshold.sh
# (sourced).  PROG names the script in messages.

# Refuse the environment variables of the old interface ($1: their prefix).
reject_old_env() {
	local old
	old=$(compgen -e | grep "^$1" || true)
	if [ -n "$old" ]; then
		echo "$PROG: takes options now, not environment variables: unset $(echo $old) and see --help" >&2
		exit 2
	fi
}

# An option's value must be there: need_arg "$@" (from inside the loop).
need_arg() { [ "$#" -ge 2 ] || { echo "$PROG: $1 needs a value (--help)" >&2; exit 2; }; }
