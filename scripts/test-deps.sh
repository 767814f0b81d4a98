#!/bin/sh
# Installs what `make test` needs on a Debian machine. Services that packages
# would start (the reference lxcfs mounting /var/lib/lxcfs) are kept from
# starting: tests run their own private instances.
set -eu

# Debian package names; each is checked with dpkg, so a machine that has them
# installs nothing and needs no network.
packages="lxcfs busybox-static qemu-system-x86 util-linux lxc runc shellcheck systemd openssl debootstrap systemd-container"
need=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need="$need $p"
done

if [ -z "$need" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "test-deps: missing$need; run as root to install them" >&2
	exit 0
fi

policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=1
fi
# An if, not "&&": a false test as the trap's last command would become
# the script's exit status when policy-rc.d already existed.
cleanup() {
	if [ -n "$made_policy" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "test-deps: installing$need"
# shellcheck disable=SC2086
if ! apt-get install -y -q --no-install-recommends $need >/dev/null; then
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $need >/dev/null
fi
